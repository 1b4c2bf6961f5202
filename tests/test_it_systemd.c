/*
 * test_it_systemd.c — casewatchd under systemd's protocols: the unit file passes
 * `systemd-analyze verify`, and the daemon speaks sd_notify on a real NOTIFY_SOCKET: READY=1
 * once its loop runs (even while PostgreSQL and Kafka are still unreachable: those are retried,
 * not waited for), WATCHDOG=1 at half the watchdog interval, STOPPING=1 on TERM, and it exits 0.
 */
#include "cwtest.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char tmp[256];

static void test_unit_file_verifies(void)
{
    char cmd[2048], out[4096];
    /* the unit as shipped, pointed at this build's binary */
    snprintf(cmd, sizeof(cmd),
             "id casewatch >/dev/null 2>&1 || useradd --system --no-create-home casewatch; "
             "sed 's#/usr/local/bin/casewatchd#" CW_BINARY_DIR "/casewatchd#g' "
             CW_SOURCE_DIR "/deploy/casewatchd.service > %s/casewatchd.service && "
             "systemd-analyze verify %s/casewatchd.service 2>&1",
             tmp, tmp);
    int rc = cwt_run(cmd, out, sizeof(out));
    if (rc != 0 || strstr(out, "casewatchd.service"))
        fprintf(stderr, "\nsystemd-analyze verify said:\n%s\n", out);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NULL(strstr(out, "casewatchd.service:")); /* no complaint about our unit */
}

static bool recv_until(int fd, const char *want, char *all, size_t allsz, int timeout_ms)
{
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            strncat(all, buf, allsz - strlen(all) - 2);
            strncat(all, "|", allsz - strlen(all) - 1);
        }
        if (strstr(all, want))
            return true;
    }
    return false;
}

static void test_notify_protocol(void)
{
    char sock_path[300], cfg[300], logp[300];
    snprintf(sock_path, sizeof(sock_path), "%s/notify.sock", tmp);
    snprintf(cfg, sizeof(cfg), "%s/cw.ini", tmp);
    snprintf(logp, sizeof(logp), "%s/casewatchd.log", tmp);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock_path) >= sizeof(sa.sun_path)) {
        CU_FAIL_FATAL("socket path too long");
        return;
    }
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* nothing listens there: the daemon must come up anyway and keep retrying */
    FILE *f = fopen(cfg, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fprintf(f, "[postgres]\nconninfo = host=127.0.0.1 port=%d user=nobody connect_timeout=1\n"
               "[kafka]\nbootstrap.servers = 127.0.0.1:%d\ngroup.id = sd\n",
            cwt_free_port(), cwt_free_port());
    fclose(f);
    setenv("NOTIFY_SOCKET", sock_path, 1);
    setenv("WATCHDOG_USEC", "400000", 1);
    unsetenv("WATCHDOG_PID"); /* no PID check: sd_watchdog_enabled accepts any process */
    pid_t pid = cwt_daemon_start(cfg, logp);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    CU_ASSERT_FATAL(pid > 0);
    char all[8192] = "";
    CU_ASSERT(recv_until(fd, "READY=1", all, sizeof(all), 10000));
    CU_ASSERT(recv_until(fd, "WATCHDOG=1", all, sizeof(all), 5000));
    CU_ASSERT(cwt_daemon_alive(pid)); /* unreachable servers are not a reason to exit */
    kill(pid, SIGTERM);
    CU_ASSERT(recv_until(fd, "STOPPING=1", all, sizeof(all), 5000));
    CU_ASSERT_EQUAL(cwt_daemon_stop(pid, 0, 12000), 0); /* wait: a second TERM means "now" */
    close(fd);
    if (CU_get_number_of_failures()) {
        fprintf(stderr, "\nnotifications: %s\n", all);
        cwt_dump_file(logp);
    }
}

int main(void)
{
    cwt_tmpdir(tmp, sizeof(tmp), "systemd");
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("systemd", NULL, NULL);
    CU_add_test(s, "deploy/casewatchd.service passes systemd-analyze verify",
                test_unit_file_verifies);
    CU_add_test(s, "sd_notify: READY, WATCHDOG, STOPPING; exits 0", test_notify_protocol);
    return cwt_cunit_run();
}
