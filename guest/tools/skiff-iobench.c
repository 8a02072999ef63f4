// skiff-iobench: a tiny block I/O load generator for the guest, so the
// initramfs can measure virtio-blk without fio (busybox has nothing alike).
// QD requests stay in flight through QD threads, each doing blocking
// pread/pwrite on one shared O_DIRECT fd (the guest page cache is bypassed,
// so every request reaches the device). Random offsets are BS-aligned and
// uniform over the device; sequential modes hand out consecutive blocks from
// a shared counter and wrap at the end of the device.
//
// Usage:
//   skiff-iobench randread DEV [--bs 4096] [--qd 32] [--seconds 5]
//   skiff-iobench seqread DEV [--bs 1M] [--qd 1] [--seconds 5]
//   skiff-iobench seqwrite DEV [--bs 1M] [--qd 1] [--seconds 5]  # destroys DEV
// BS takes a K or M suffix (binary units). It prints one line on stdout:
//   skiff-iobench randread iops=12345 mbps=48.2 ios=61725 seconds=5.000
//       bs=4096 qd=32 direct=1
// mbps is 10^6 bytes per second; seconds is the measured wall time (until
// every thread finished its last request; seqwrite includes a final
// fdatasync). Exit status: 0 on success, 1 on an I/O error (a message on
// stderr), 2 on bad usage.
//
// Built statically by scripts/build-initramfs (`gcc -static -Os -pthread`)
// and installed as /bin/skiff-iobench.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum Mode { kRandRead, kSeqRead, kSeqWrite };

#define kMaxQd 256
#define kMaxBs (64u << 20)

struct Shared {
  int fd;
  enum Mode mode;
  uint64_t bs;
  uint64_t blocks;     // device size / bs
  atomic_int stop;     // set by main after the run time
  atomic_ullong next;  // sequential modes: the next block to use
  atomic_int failed;   // an I/O error happened; message already printed
};

struct Worker {
  struct Shared* shared;
  pthread_t thread;
  uint64_t seed;
  uint64_t ios;
};

static int Usage(void) {
  fprintf(stderr,
          "usage: skiff-iobench randread|seqread|seqwrite DEV [--bs N[K|M]] "
          "[--qd N] [--seconds S]\n");
  return 2;
}

// Parses a decimal count with an optional K/M suffix; 0 on anything else.
static uint64_t ParseSize(const char* s) {
  char* end = NULL;
  if (*s < '0' || *s > '9') return 0;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || v > kMaxBs) return 0;
  if (*end == 'K' || *end == 'k') {
    v <<= 10;
    ++end;
  } else if (*end == 'M' || *end == 'm') {
    v <<= 20;
    ++end;
  }
  if (*end != '\0' || v > kMaxBs) return 0;
  return v;
}

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// xorshift64*: cheap, good enough to spread offsets over the device.
static uint64_t NextRandom(uint64_t* state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dull;
}

static void* Run(void* arg) {
  struct Worker* w = arg;
  struct Shared* s = w->shared;
  void* buf = NULL;
  // O_DIRECT needs the buffer aligned to the logical block size; a page
  // covers every block size Linux supports.
  if (posix_memalign(&buf, 4096, s->bs) != 0) {
    fprintf(stderr, "skiff-iobench: cannot allocate %llu bytes\n",
            (unsigned long long)s->bs);
    atomic_store(&s->failed, 1);
    return NULL;
  }
  memset(buf, 0xa5, s->bs);
  while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
    uint64_t block;
    if (s->mode == kRandRead) {
      block = NextRandom(&w->seed) % s->blocks;
    } else {
      block = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed) %
              s->blocks;
    }
    const off_t offset = (off_t)(block * s->bs);
    ssize_t n;
    do {
      n = s->mode == kSeqWrite ? pwrite(s->fd, buf, s->bs, offset)
                               : pread(s->fd, buf, s->bs, offset);
    } while (n < 0 && errno == EINTR);
    if (n < 0 || (uint64_t)n != s->bs) {
      fprintf(stderr, "skiff-iobench: %s offset %llu: %s\n",
              s->mode == kSeqWrite ? "pwrite" : "pread",
              (unsigned long long)offset,
              n < 0 ? strerror(errno) : "short transfer");
      atomic_store(&s->failed, 1);
      atomic_store(&s->stop, 1);
      break;
    }
    ++w->ios;
  }
  free(buf);
  return NULL;
}

static uint64_t DeviceSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) return 0;
    return bytes;
  }
  return (uint64_t)st.st_size;
}

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  enum Mode mode;
  if (strcmp(argv[1], "randread") == 0) {
    mode = kRandRead;
  } else if (strcmp(argv[1], "seqread") == 0) {
    mode = kSeqRead;
  } else if (strcmp(argv[1], "seqwrite") == 0) {
    mode = kSeqWrite;
  } else {
    return Usage();
  }
  const char* dev = argv[2];
  uint64_t bs = mode == kRandRead ? 4096 : (1u << 20);
  long qd = mode == kRandRead ? 32 : 1;
  double seconds = 5;
  for (int i = 3; i < argc; ++i) {
    if (i + 1 >= argc) return Usage();
    const char* v = argv[++i];
    if (strcmp(argv[i - 1], "--bs") == 0) {
      bs = ParseSize(v);
      // 512: the smallest logical block size O_DIRECT can be aligned to.
      if (bs == 0 || bs % 512 != 0) return Usage();
    } else if (strcmp(argv[i - 1], "--qd") == 0) {
      char* end = NULL;
      qd = strtol(v, &end, 10);
      if (*end != '\0' || qd < 1 || qd > kMaxQd) return Usage();
    } else if (strcmp(argv[i - 1], "--seconds") == 0) {
      char* end = NULL;
      seconds = strtod(v, &end);
      if (*end != '\0' || !(seconds > 0) || seconds > 86400) return Usage();
    } else {
      return Usage();
    }
  }

  int direct = 1;
  const int access = mode == kSeqWrite ? O_RDWR : O_RDONLY;
  int fd = open(dev, access | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) {
    // A filesystem without O_DIRECT (e.g. an older tmpfs): still measure,
    // but say so in the result line.
    direct = 0;
    fd = open(dev, access | O_CLOEXEC);
  }
  if (fd < 0) {
    fprintf(stderr, "skiff-iobench: open %s: %s\n", dev, strerror(errno));
    return 1;
  }
  const uint64_t size = DeviceSize(fd);
  if (size < bs) {
    fprintf(stderr, "skiff-iobench: %s: %llu bytes, smaller than bs %llu\n",
            dev, (unsigned long long)size, (unsigned long long)bs);
    return 1;
  }

  struct Shared shared = {
      .fd = fd, .mode = mode, .bs = bs, .blocks = size / bs};
  atomic_init(&shared.stop, 0);
  atomic_init(&shared.next, 0);
  atomic_init(&shared.failed, 0);
  static struct Worker workers[kMaxQd];
  const uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
  const double start = Now();
  long started = 0;
  for (long i = 0; i < qd; ++i) {
    workers[i].shared = &shared;
    workers[i].seed = (seed + (uint64_t)i * 0x9e3779b97f4a7c15ull) | 1;
    workers[i].ios = 0;
    int rc = pthread_create(&workers[i].thread, NULL, Run, &workers[i]);
    if (rc != 0) {
      fprintf(stderr, "skiff-iobench: pthread_create: %s\n", strerror(rc));
      atomic_store(&shared.failed, 1);
      break;
    }
    ++started;
  }
  // Sleep in short steps so a worker's error ends the run early.
  while (!atomic_load(&shared.stop) && !atomic_load(&shared.failed)) {
    const double left = start + seconds - Now();
    if (left <= 0) break;
    const double step = left < 0.1 ? left : 0.1;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(step * 1e9)};
    nanosleep(&ts, NULL);
  }
  atomic_store(&shared.stop, 1);
  uint64_t ios = 0;
  for (long i = 0; i < started; ++i) {
    pthread_join(workers[i].thread, NULL);
    ios += workers[i].ios;
  }
  if (mode == kSeqWrite && fdatasync(fd) != 0) {
    fprintf(stderr, "skiff-iobench: fdatasync: %s\n", strerror(errno));
    return 1;
  }
  const double elapsed = Now() - start;
  close(fd);
  if (atomic_load(&shared.failed)) return 1;
  printf(
      "skiff-iobench %s iops=%.0f mbps=%.1f ios=%llu seconds=%.3f bs=%llu "
      "qd=%ld direct=%d\n",
      argv[1], (double)ios / elapsed, (double)ios * (double)bs / elapsed / 1e6,
      (unsigned long long)ios, elapsed, (unsigned long long)bs, qd, direct);
  return 0;
}
