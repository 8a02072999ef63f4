#include "tcg/difftest/native_runner.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::tcg::difftest {
namespace {

// The control page, at a fixed address in the child only. The prologue and
// epilogue address it with absolute disp32 operands, and the signal handler
// finds the current result and jump buffer here (a handler can reach no
// other state).
inline constexpr uint64_t kCtlBase = kCodeBase + 0x10000;

struct SharedResult {
  uint32_t kind;
  int32_t vector;
  uint64_t error_code, fault_addr;
  uint64_t gpr[16];
  uint64_t rip, rflags;
  uint8_t data[kDataSize];
};

struct SharedHeader {
  std::atomic<uint32_t> done;
  int32_t setup_errno;  // nonzero: the child could not set itself up
  char setup_step[48];
};
inline constexpr size_t kHeaderSize = 64;
static_assert(sizeof(SharedHeader) <= kHeaderSize);

struct Ctl {
  uint64_t in_gpr[16];
  uint64_t in_rflags;
  uint64_t out_gpr[16];
  uint64_t out_rflags;
  uint64_t host_rsp;
  uint64_t end_rip;  // kCodeBase + snippet length
  SharedResult* current;
  sigjmp_buf jb;
};
static_assert(sizeof(Ctl) < 4096);

Ctl* CtlPage() { return reinterpret_cast<Ctl*>(kCtlBase); }

// ---- Prologue / epilogue encoding ------------------------------------------

void Disp32(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// MOV r64, [abs32] (load) or MOV [abs32], r64 (store): REX.W 8B/89 with
// ModRM rm=100 and SIB base=101 no index, i.e. a disp32 absolute address
// (Intel SDM vol. 2, table 2-3).
void MovAbs(std::vector<uint8_t>& b, int reg, uint64_t addr, bool load) {
  b.push_back(static_cast<uint8_t>(0x48 | (reg >= 8 ? 4 : 0)));
  b.push_back(load ? 0x8b : 0x89);
  b.push_back(static_cast<uint8_t>(((reg & 7) << 3) | 4));
  b.push_back(0x25);
  Disp32(b, addr);
}

// MOV RSP, imm32 (sign-extended; our addresses are below 2 GiB).
void MovRspImm(std::vector<uint8_t>& b, uint64_t v) {
  b.insert(b.end(), {0x48, 0xc7, 0xc4});
  Disp32(b, v);
}

std::vector<uint8_t> Prologue() {
  std::vector<uint8_t> b = {0x53, 0x55, 0x41, 0x54, 0x41,
                            0x55, 0x41, 0x56, 0x41, 0x57};  // push rbx..r15
  MovAbs(b, kRsp, kCtlBase + offsetof(Ctl, host_rsp), false);
  MovRspImm(b, kCtlBase + offsetof(Ctl, in_rflags));
  b.push_back(0x9d);  // popfq
  for (int r = 0; r < 16; ++r) {
    if (r != kRsp) MovAbs(b, r, kCtlBase + offsetof(Ctl, in_gpr) + 8 * r, true);
  }
  MovAbs(b, kRsp, kCtlBase + offsetof(Ctl, in_gpr) + 8 * kRsp, true);
  return b;
}

std::vector<uint8_t> Epilogue() {
  std::vector<uint8_t> b;
  for (int r = 0; r < 16; ++r) {
    MovAbs(b, r, kCtlBase + offsetof(Ctl, out_gpr) + 8 * r, false);
  }
  MovRspImm(b, kCtlBase + offsetof(Ctl, out_rflags) + 8);
  b.push_back(0x9c);  // pushfq
  MovAbs(b, kRsp, kCtlBase + offsetof(Ctl, host_rsp), true);
  b.push_back(0xfc);  // cld: the C++ ABI wants DF clear
  b.insert(b.end(), {0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b,
                     0xc3});  // pop r15..rbx; ret
  return b;
}

// ---- Child ------------------------------------------------------------------

constexpr int kGregOf[16] = {
    REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
    REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

void OnSignal(int sig, siginfo_t* si, void* ucv) {
  Ctl* ctl = CtlPage();
  SharedResult* r = ctl->current;
  if (r == nullptr) _exit(3);  // a fault in the harness itself
  const auto* uc = static_cast<const ucontext_t*>(ucv);
  const greg_t* g = uc->uc_mcontext.gregs;
  for (int i = 0; i < 16; ++i) r->gpr[i] = static_cast<uint64_t>(g[kGregOf[i]]);
  r->rip = static_cast<uint64_t>(g[REG_RIP]);
  r->rflags = static_cast<uint64_t>(g[REG_EFL]);
  r->vector = static_cast<int32_t>(g[REG_TRAPNO]);
  r->error_code = static_cast<uint64_t>(g[REG_ERR]);
  r->fault_addr = reinterpret_cast<uint64_t>(si->si_addr);
  r->kind = static_cast<uint32_t>(sig == SIGVTALRM ? Outcome::Kind::kTimeout
                                                   : Outcome::Kind::kException);
  siglongjmp(ctl->jb, 1);
}

// The snippet is entered through a plain function pointer to code the
// compiler never saw; clang's -fsanitize=function would look for a type
// signature in front of it.
#if defined(__clang__)
__attribute__((no_sanitize("function")))
#endif
void CallSnippet(uint64_t entry) {
  reinterpret_cast<void (*)()>(entry)();
}

[[noreturn]] void SetupFailed(SharedHeader* h, const char* step) {
  h->setup_errno = errno != 0 ? errno : -1;
  std::strncpy(h->setup_step, step, sizeof(h->setup_step) - 1);
  _exit(2);
}

bool MapFixed(uint64_t addr, size_t len, int prot) {
  void* want = reinterpret_cast<void*>(addr);
  void* p = mmap(want, len, prot,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  return p == want;
}

bool InstallSeccomp() {
  // Allow only what the harness needs after setup: signal return,
  // siglongjmp's mask restore, the per-snippet timer, and exit. Anything
  // else (a snippet's SYSCALL, an x32 call) kills the child.
  static constexpr uint32_t kAllowed[] = {SYS_rt_sigreturn, SYS_rt_sigprocmask,
                                          SYS_setitimer, SYS_exit_group,
                                          SYS_exit};
  std::vector<sock_filter> f = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  for (uint32_t nr : kAllowed) {
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

void SetTimer(int ms) {
  itimerval t{};
  t.it_value.tv_sec = ms / 1000;
  t.it_value.tv_usec = (ms % 1000) * 1000;
  setitimer(ITIMER_VIRTUAL, &t, nullptr);
}

[[noreturn]] void ChildMain(const Snippet* snippets, size_t n,
                            SharedHeader* header, SharedResult* results,
                            const NativeRunner::Options& options,
                            const std::vector<uint8_t>& prologue,
                            const std::vector<uint8_t>& epilogue) {
  if (!MapFixed(kCodeBase - kCodePage, 2 * kCodePage,
                PROT_READ | PROT_WRITE | PROT_EXEC)) {
    SetupFailed(header, "mmap code");
  }
  if (!MapFixed(kDataBase, kDataSize, PROT_READ | PROT_WRITE)) {
    SetupFailed(header, "mmap data");
  }
  if (!MapFixed(kCtlBase, 4096, PROT_READ | PROT_WRITE)) {
    SetupFailed(header, "mmap control page");
  }
  const uint64_t entry = kCodeBase - prologue.size();
  std::memcpy(reinterpret_cast<void*>(entry), prologue.data(), prologue.size());
  constexpr size_t kAltStack = 64 * 1024;
  void* alt = mmap(nullptr, kAltStack, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (alt == MAP_FAILED) SetupFailed(header, "mmap altstack");
  stack_t ss{};
  ss.ss_sp = alt;
  ss.ss_size = kAltStack;
  if (sigaltstack(&ss, nullptr) != 0) SetupFailed(header, "sigaltstack");
  struct sigaction sa {};
  sa.sa_sigaction = OnSignal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGVTALRM}) {
    if (sigaction(sig, &sa, nullptr) != 0) SetupFailed(header, "sigaction");
  }
  // A backstop for anything the timer misses.
  rlimit cpu{60, 60};
  setrlimit(RLIMIT_CPU, &cpu);
  if (options.seccomp && !InstallSeccomp()) SetupFailed(header, "seccomp");

  Ctl* ctl = CtlPage();
  auto* code = reinterpret_cast<uint8_t*>(kCodeBase);
  auto* data = reinterpret_cast<uint8_t*>(kDataBase);
  for (size_t k = 0; k < n; ++k) {
    const Snippet& s = snippets[k];
    SharedResult* r = &results[k];
    FillData(s.data_seed, data);
    const size_t len = std::min(s.code.size(), kMaxCodeSize);
    std::memcpy(code, s.code.data(), len);
    std::memcpy(code + len, epilogue.data(), epilogue.size());
    std::memcpy(ctl->in_gpr, s.gpr, sizeof(ctl->in_gpr));
    // IF stays set (POPFQ at CPL 3 cannot change it); TF, AC, NT clear.
    ctl->in_rflags = (s.rflags & kComparedFlags) | 0x202;
    r->kind = static_cast<uint32_t>(Outcome::Kind::kCrashed);
    r->vector = -1;
    ctl->current = r;
    ctl->end_rip = kCodeBase + len;
    SetTimer(options.timeout_ms);
    if (sigsetjmp(ctl->jb, 1) == 0) {
      CallSnippet(entry);
      SetTimer(0);
      ctl->current = nullptr;
      r->kind = static_cast<uint32_t>(Outcome::Kind::kCompleted);
      std::memcpy(r->gpr, ctl->out_gpr, sizeof(r->gpr));
      r->rflags = ctl->out_rflags;
      r->rip = ctl->end_rip;
    } else {
      SetTimer(0);
      ctl->current = nullptr;
    }
    std::memcpy(r->data, data, kDataSize);
    header->done.store(static_cast<uint32_t>(k + 1), std::memory_order_release);
  }
  _exit(0);
}

std::string DescribeStatus(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return absl::StrCat("native child killed by signal ", sig,
                        sig == SIGSYS    ? " (seccomp: a system call)"
                        : sig == SIGXCPU ? " (CPU time limit)"
                                         : "");
  }
  return absl::StrCat("native child exited with status ", WEXITSTATUS(status));
}

}  // namespace

absl::StatusOr<std::unique_ptr<NativeRunner>> NativeRunner::Create(
    const Options& options) {
#if !defined(__x86_64__) || !defined(__linux__)
  (void)options;
  return absl::UnimplementedError("difftest needs an x86-64 Linux host");
#else
  Options o = options;
  if (o.batch_size < 1) o.batch_size = 1;
  const size_t size =
      kHeaderSize + sizeof(SharedResult) * static_cast<size_t>(o.batch_size);
  void* shared = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return ErrnoStatus("mmap difftest results");
  return std::unique_ptr<NativeRunner>(new NativeRunner(o, shared, size));
#endif
}

NativeRunner::~NativeRunner() { munmap(shared_, shared_size_); }

absl::StatusOr<size_t> NativeRunner::RunBatch(
    absl::Span<const Snippet> snippets, size_t begin, size_t end,
    std::vector<Outcome>* out) {
  auto* header = new (shared_) SharedHeader();
  header->done.store(0);
  header->setup_errno = 0;
  header->setup_step[0] = 0;
  auto* results = reinterpret_cast<SharedResult*>(
      static_cast<uint8_t*>(shared_) + kHeaderSize);
  // Encoded before fork: the child allocates nothing once seccomp is on.
  const std::vector<uint8_t> prologue = Prologue();
  const std::vector<uint8_t> epilogue = Epilogue();
  const pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork difftest child");
  if (pid == 0) {
    ChildMain(snippets.data() + begin, end - begin, header, results, options_,
              prologue, epilogue);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus("waitpid difftest child");
  }
  if (header->setup_errno != 0) {
    return absl::InternalError(absl::StrCat(
        "difftest child setup failed at ", header->setup_step, ": ",
        strerror(header->setup_errno > 0 ? header->setup_errno : EINVAL)));
  }
  const size_t done = header->done.load(std::memory_order_acquire);
  for (size_t k = 0; k < done && begin + k < end; ++k) {
    const SharedResult& r = results[k];
    Outcome& o = (*out)[begin + k];
    o.kind = static_cast<Outcome::Kind>(r.kind);
    o.vector = o.kind == Outcome::Kind::kException ? r.vector : -1;
    o.error_code = r.error_code;
    o.fault_addr = r.fault_addr;
    std::memcpy(o.gpr, r.gpr, sizeof(o.gpr));
    o.rip = r.rip;
    o.rflags = r.rflags;
    o.data.assign(r.data, r.data + kDataSize);
  }
  if (begin + done < end) {
    Outcome& o = (*out)[begin + done];
    o.kind = Outcome::Kind::kCrashed;
    o.detail = DescribeStatus(status);
  }
  return done;
}

absl::StatusOr<std::vector<Outcome>> NativeRunner::Run(
    absl::Span<const Snippet> snippets) {
  std::vector<Outcome> out(snippets.size());
  size_t begin = 0;
  while (begin < snippets.size()) {
    const size_t end = std::min(
        snippets.size(), begin + static_cast<size_t>(options_.batch_size));
    SKIFF_ASSIGN_OR_RETURN(size_t done, RunBatch(snippets, begin, end, &out));
    begin += done;
    if (begin < end) ++begin;  // skip the snippet that killed the child
  }
  return out;
}

}  // namespace skiff::tcg::difftest
