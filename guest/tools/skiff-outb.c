// skiff-outb: writes one byte to an x86 I/O port from the guest's userspace.
//
// The guest init uses it to report its exit status through the debug-exit
// port (0xf4 by default; QEMU's isa-debug-exit and skiff's debug-exit device
// both make the VMM exit with status (value << 1) | 1). busybox has no
// applet for port I/O, and /dev/port needs CONFIG_DEVPORT, which in Linux 6.1
// depends on ISA || PCI: the microVM kernel has neither.
//
// Usage: skiff-outb VALUE [PORT]     (decimal or 0x-prefixed hex)
//   skiff-outb 0         # report success: QEMU exits with status 1
//   skiff-outb 3 0x501   # write 3 to port 0x501
//
// Freestanding: no libc, built with `gcc -static -nostdlib -Os` by
// scripts/build-initramfs so the initramfs needs nothing but busybox. Needs
// CAP_SYS_RAWIO (init runs as root) and CONFIG_X86_IOPL_IOPERM.

#define SYS_write 1
#define SYS_ioperm 173
#define SYS_exit_group 231

static long Syscall3(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return ret;
}

static void Fail(const char* msg, unsigned long len) {
  Syscall3(SYS_write, 2, (long)msg, (long)len);
  Syscall3(SYS_exit_group, 2, 0, 0);
}

// Parses decimal or 0x-hex; returns -1 on anything else or past 0xffff.
static long ParseNumber(const char* s) {
  long value = 0;
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (*s == '\0') return -1;
  for (; *s; ++s) {
    int digit;
    if (*s >= '0' && *s <= '9') {
      digit = *s - '0';
    } else if (base == 16 && *s >= 'a' && *s <= 'f') {
      digit = *s - 'a' + 10;
    } else if (base == 16 && *s >= 'A' && *s <= 'F') {
      digit = *s - 'A' + 10;
    } else {
      return -1;
    }
    value = value * base + digit;
    if (value > 0xffff) return -1;
  }
  return value;
}

// Called from _start with the initial stack pointer (argc, argv[], ...).
__attribute__((used)) void SkiffOutbMain(long* sp) {
  static const char kUsage[] = "usage: skiff-outb VALUE [PORT]\n";
  static const char kRange[] = "skiff-outb: VALUE must be 0..255\n";
  static const char kPerm[] = "skiff-outb: ioperm failed\n";
  long argc = sp[0];
  char** argv = (char**)(sp + 1);
  if (argc < 2 || argc > 3) Fail(kUsage, sizeof(kUsage) - 1);
  long value = ParseNumber(argv[1]);
  long port = argc == 3 ? ParseNumber(argv[2]) : 0xf4;
  if (value < 0 || value > 255 || port < 0) Fail(kRange, sizeof(kRange) - 1);
  if (Syscall3(SYS_ioperm, port, 1, 1) != 0) Fail(kPerm, sizeof(kPerm) - 1);
  unsigned char byte = (unsigned char)value;
  unsigned short p = (unsigned short)port;
  __asm__ volatile("outb %0, %1" : : "a"(byte), "Nd"(p));
  // Reached when the VMM has no device at the port (or ignores the write).
  Syscall3(SYS_exit_group, 0, 0, 0);
}

__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call SkiffOutbMain\n"
    "  hlt\n");
