/*
 * cwhttp.h — a small blocking HTTP/1.1 client for integration tests of casewatchd's admin API
 * (loopback only; one request per connection; chunked replies decoded).
 */
#ifndef CWHTTP_H
#define CWHTTP_H

#include <stddef.h>

typedef struct cwt_http_resp {
    int status;       /**< HTTP status, or -1 if the request failed (printed) */
    char *headers;    /**< raw header block (NUL-terminated) */
    char *body;       /**< NUL-terminated body (decoded if chunked) */
    size_t body_len;
} cwt_http_resp_t;

/**
 * @brief method path on 127.0.0.1:port; token (NULL = none) as a bearer; body (NULL = none)
 * sent as application/json. Waits at most timeout_ms.
 */
cwt_http_resp_t cwt_http(const char *method, int port, const char *path, const char *token,
                         const char *body, int timeout_ms);
void cwt_http_free(cwt_http_resp_t *r);

/** @brief Open GET path as a stream (server-sent events); the socket, or -1 (printed). */
int cwt_sse_open(int port, const char *path, const char *token);
/**
 * @brief Read from the stream until its accumulated text contains needle or timeout_ms
 * passes. buf accumulates (NUL-terminated, truncated at bufsz).
 * @returns 1 found, 0 timed out or closed.
 */
int cwt_sse_wait(int fd, const char *needle, char *buf, size_t bufsz, int timeout_ms);

/**
 * @brief A TCP connection to 127.0.0.1:port, nothing sent. nonblocking: connect() is not
 * waited for (it may still be in progress: a full backlog) and the socket stays non-blocking.
 * @returns the socket, or -1 (printed).
 */
int cwt_tcp_connect(int port, int nonblocking);

/**
 * @brief Read whatever the server sends until it closes the connection (EOF or reset) or
 * timeout_ms passes. buf accumulates as in cwt_sse_wait().
 * @returns 1 closed by the server, 0 still open after timeout_ms.
 */
int cwt_wait_closed(int fd, char *buf, size_t bufsz, int timeout_ms);

#endif
