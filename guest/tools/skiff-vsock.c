// skiff-vsock: a tiny vsock relay for the guest, so the initramfs can talk
// to the host over virtio-vsock without socat (busybox has no vsock applet).
// It copies stdin to the socket and the socket to stdout; at EOF on stdin
// it half-closes the socket (shutdown(SHUT_WR)) and keeps reading until the
// peer's EOF.
//
// Usage:
//   skiff-vsock connect CID PORT     # e.g. connect 2 5000: the host, which
//                                    # skiff maps to the Unix socket
//                                    # <uds>_5000
//   skiff-vsock listen PORT [COUNT]  # serve COUNT connections one after the
//                                    # other (default 1, 0 = forever); the
//                                    # host reaches it with "CONNECT PORT\n"
//                                    # on skiff's Unix socket
// Exit status: 0 when the stream ended normally, 1 on an error (a message on
// stderr), 2 on bad usage.
//
// Built statically by scripts/build-initramfs (`gcc -static -Os`) and
// installed as /bin/skiff-vsock.

#define _GNU_SOURCE
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int Usage(void) {
  fprintf(stderr,
          "usage: skiff-vsock connect CID PORT\n"
          "       skiff-vsock listen PORT [COUNT]\n");
  return 2;
}

static int Fail(const char* what) {
  fprintf(stderr, "skiff-vsock: %s: %s\n", what, strerror(errno));
  return 1;
}

// Parses a decimal number up to `max`; returns -1 on anything else.
static long long ParseNumber(const char* s, unsigned long long max) {
  char* end = NULL;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return -1;
  return (long long)v;
}

static int WriteAll(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

// Relays until the socket's EOF. Returns the exit status.
static int Relay(int sock) {
  static char buf[65536];
  int stdin_open = 1;
  for (;;) {
    struct pollfd fds[2] = {{sock, POLLIN, 0}, {0, POLLIN, 0}};
    if (poll(fds, stdin_open ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      return Fail("poll");
    }
    if (fds[0].revents) {
      ssize_t n = read(sock, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return Fail("read socket");
      }
      if (n == 0) return 0;  // the peer sends nothing more
      if (WriteAll(1, buf, (size_t)n) != 0) return Fail("write stdout");
    }
    if (stdin_open && fds[1].revents) {
      ssize_t n = read(0, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        stdin_open = 0;
        if (shutdown(sock, SHUT_WR) != 0) return Fail("shutdown");
        continue;
      }
      if (WriteAll(sock, buf, (size_t)n) != 0) return Fail("write socket");
    }
  }
}

static int Connect(const char* cid_arg, const char* port_arg) {
  long long cid = ParseNumber(cid_arg, 0xffffffffull);
  long long port = ParseNumber(port_arg, 0xffffffffull);
  if (cid < 0 || port < 0) return Usage();
  int sock = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Fail("socket(AF_VSOCK)");
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof(addr));
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = (unsigned)cid;
  addr.svm_port = (unsigned)port;
  if (connect(sock, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    return Fail("connect");
  }
  int status = Relay(sock);
  close(sock);
  return status;
}

static int Listen(const char* port_arg, const char* count_arg) {
  long long port = ParseNumber(port_arg, 0xffffffffull);
  long long count = count_arg ? ParseNumber(count_arg, 1000000000ull) : 1;
  if (port < 0 || count < 0) return Usage();
  int sock = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Fail("socket(AF_VSOCK)");
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof(addr));
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = (unsigned)port;
  if (bind(sock, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    return Fail("bind");
  }
  if (listen(sock, 16) != 0) return Fail("listen");
  int status = 0;
  for (long long served = 0; count == 0 || served < count; ++served) {
    int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR) {
        --served;
        continue;
      }
      return Fail("accept");
    }
    status = Relay(conn);
    close(conn);
    if (status != 0) break;
  }
  close(sock);
  return status;
}

int main(int argc, char** argv) {
  // A peer that goes away must be an error status, not a silent death.
  signal(SIGPIPE, SIG_IGN);
  if (argc == 4 && strcmp(argv[1], "connect") == 0) {
    return Connect(argv[2], argv[3]);
  }
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "listen") == 0) {
    return Listen(argv[2], argc == 4 ? argv[3] : NULL);
  }
  return Usage();
}
