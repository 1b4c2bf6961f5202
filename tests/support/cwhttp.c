/*
 * cwhttp.c — a blocking HTTP client for tests (see cwhttp.h).
 */
#include "cwhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "cwt_http: cannot connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int send_request(int fd, const char *method, const char *path, const char *token,
                        const char *body, const char *extra)
{
    char head[4096];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%s%s", method,
                     path, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", extra ? extra : "");
    if (body)
        n += snprintf(head + n, sizeof(head) - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    if (write(fd, head, (size_t)n) != n || (blen && write(fd, body, blen) != (ssize_t)blen))
        return -1;
    return 0;
}

/* decode a chunked body in place; returns its length */
static size_t dechunk(char *b, size_t len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        char *end;
        unsigned long sz = strtoul(b + in, &end, 16);
        char *crlf = strstr(b + in, "\r\n");
        if (!crlf || end > crlf)
            break;
        in = (size_t)(crlf - b) + 2;
        if (sz == 0 || in + sz > len)
            break;
        memmove(b + out, b + in, sz);
        out += sz;
        in += sz + 2;
    }
    b[out] = '\0';
    return out;
}

cwt_http_resp_t cwt_http(const char *method, int port, const char *path, const char *token,
                         const char *body, int timeout_ms)
{
    cwt_http_resp_t r = {.status = -1};
    int fd = dial(port);
    if (fd < 0)
        return r;
    if (send_request(fd, method, path, token, body, NULL) < 0) {
        fprintf(stderr, "cwt_http: %s %s: write failed\n", method, path);
        close(fd);
        return r;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            fprintf(stderr, "cwt_http: %s %s: no complete answer within %d ms\n", method, path,
                    timeout_ms);
            free(buf);
            close(fd);
            return r;
        }
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &r.status) != 1) {
        fprintf(stderr, "cwt_http: %s %s: not an HTTP answer\n", method, path);
        free(buf);
        r.status = -1;
        return r;
    }
    *sep = '\0';
    r.headers = strdup(buf);
    size_t blen = len - (size_t)(sep + 4 - buf);
    r.body = malloc(blen + 1);
    memcpy(r.body, sep + 4, blen);
    r.body[blen] = '\0';
    r.body_len = blen;
    if (strcasestr(r.headers, "Transfer-Encoding: chunked"))
        r.body_len = dechunk(r.body, blen);
    free(buf);
    return r;
}

void cwt_http_free(cwt_http_resp_t *r)
{
    free(r->headers);
    free(r->body);
    r->headers = r->body = NULL;
}

int cwt_sse_open(int port, const char *path, const char *token)
{
    int fd = dial(port);
    if (fd >= 0 &&
        send_request(fd, "GET", path, token, NULL, "Accept: text/event-stream\r\n") < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int cwt_sse_wait(int fd, const char *needle, char *buf, size_t bufsz, int timeout_ms)
{
    size_t len = strlen(buf);
    long long deadline = now_ms() + timeout_ms;
    while (!strstr(buf, needle)) {
        long long left = deadline - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return 0;
        if (len + 1 >= bufsz) { /* keep the newest half */
            memmove(buf, buf + bufsz / 2, len - bufsz / 2 + 1);
            len -= bufsz / 2;
        }
        ssize_t n = read(fd, buf + len, bufsz - len - 1);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return 1;
}

int cwt_tcp_connect(int port, int nonblocking)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
                   !(nonblocking && errno == EINPROGRESS))) {
        fprintf(stderr, "cwt_tcp_connect: 127.0.0.1:%d: %s\n", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int cwt_wait_closed(int fd, char *buf, size_t bufsz, int timeout_ms)
{
    size_t len = strlen(buf);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0) /* timeout 0: look once */
            return 0;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
        if (n < 0)
            continue;
        size_t keep = (size_t)n < bufsz - len - 1 ? (size_t)n : bufsz - len - 1;
        memcpy(buf + len, chunk, keep);
        len += keep;
        buf[len] = '\0';
    }
}
