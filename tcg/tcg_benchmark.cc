// Interpreter micro-benchmarks (Google Benchmark). Guest programs run on a
// FlatMachine (flat 64-bit long mode, 4 KiB paging) through TcgVcpu::Run;
// items/s and the MIPS counter are guest instructions retired per second.
//
//   build-x/tcg/tcg_benchmark --benchmark_filter=IntegerLoop
//
//   BM_Decode       Decode() over a realistic mix of instruction bytes
//   BM_IntegerLoop  add/xor/shl/dec/jnz (tests/guests/int_loop.asm's loop)
//   BM_MemoryLoop   load/store copy loop through the TLB, then REP MOVSQ
//   BM_CallRet      call/ret/push/pop
//   BM_Branchy      Jcc on pseudo-random data
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "tcg/decoder.h"
#include "tcg/testing/tcg_test_util.h"

namespace skiff::tcg::testing {
namespace {

// Runs `source` (ending in HLT) once per benchmark iteration. Argument 1
// runs with the block cache (the default), 0 one instruction at a time with
// the generic handlers (the interpreter before blocks, for comparison).
void RunGuest(benchmark::State& state, const std::string& source) {
  auto code = Assemble(source);
  if (!code.ok()) {
    state.SkipWithError(std::string(code.status().message()).c_str());
    return;
  }
  auto m = FlatMachine::Create();
  if (!m.ok()) {
    state.SkipWithError("FlatMachine::Create failed");
    return;
  }
  TcgVcpu& vcpu = (*m)->vcpu();
  vcpu.set_block_cache_enabled(state.range(0) != 0);
  state.SetLabel(state.range(0) != 0 ? "blocks" : "step");
  uint64_t insns = 0;
  for (auto _ : state) {
    if (!(*m)->LoadCode(*code).ok()) {
      state.SkipWithError("LoadCode failed");
      return;
    }
    const uint64_t before = vcpu.instructions_retired();
    auto exit = (*m)->Run();
    if (!exit.ok() || exit->kind != VcpuExit::Kind::kHalt) {
      state.SkipWithError("guest did not halt");
      return;
    }
    insns += vcpu.instructions_retired() - before;
  }
  state.SetItemsProcessed(static_cast<int64_t>(insns));
  state.counters["MIPS"] = benchmark::Counter(static_cast<double>(insns) / 1e6,
                                              benchmark::Counter::kIsRate);
}

void BM_Decode(benchmark::State& state) {
  // A mix typical of compiled kernel code: ALU reg/mem, MOV with SIB and
  // displacements, LEA, PUSH/POP, CALL/Jcc, REX prefixes, 0F opcodes.
  auto code = Assemble(R"(
    push rbp
    mov rbp, rsp
    sub rsp, 0x28
    mov rax, [rdi + 0x18]
    mov ecx, [rax + rsi*4 + 8]
    lea rdx, [rax + rcx*8]
    add ecx, 1
    cmp ecx, [rbp - 8]
    jne near $+0x20
    movzx eax, byte [rdx + 3]
    test eax, eax
    je $+4
    mov qword [rel $ + 0x100], rax
    xor r8d, r8d
    imul r9, r10, 24
    shl r11, 3
    call $+5
    cmovne rax, rbx
    lock xadd [rdi], eax
    mov rsp, rbp
    pop rbp
    ret)");
  if (!code.ok()) {
    state.SkipWithError(std::string(code.status().message()).c_str());
    return;
  }
  const std::vector<uint8_t>& bytes = *code;
  const int n = static_cast<int>(bytes.size());
  uint64_t decoded = 0;
  Insn insn;
  for (auto _ : state) {
    for (int pos = 0; pos < n;) {
      if (Decode(bytes.data() + pos, n - pos, 64, &insn) != DecodeResult::kOk) {
        state.SkipWithError("decode failed");
        return;
      }
      benchmark::DoNotOptimize(insn);
      pos += insn.len;
      ++decoded;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(decoded));
}
BENCHMARK(BM_Decode);

void BM_IntegerLoop(benchmark::State& state) {
  RunGuest(state, R"(
    mov ecx, 200000
    xor eax, eax
    xor edx, edx
  l:
    add eax, ecx
    xor edx, eax
    shl eax, 1
    dec ecx
    jnz l
    hlt)");
}
BENCHMARK(BM_IntegerLoop)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

void BM_MemoryLoop(benchmark::State& state) {
  // 32 KiB copied with a load/store loop, then with REP MOVSQ, 8 times;
  // both through 4 KiB pages.
  RunGuest(state, R"(
    mov r8d, 8
  outer:
    mov rsi, 0x20000
    mov rdi, 0x30000
    mov ecx, 4096
  copy:
    mov rax, [rsi]
    mov [rdi], rax
    add rsi, 8
    add rdi, 8
    dec ecx
    jnz copy
    mov rsi, 0x20000
    mov rdi, 0x40000
    mov ecx, 4096
    rep movsq
    dec r8d
    jnz outer
    hlt)");
}
BENCHMARK(BM_MemoryLoop)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

void BM_CallRet(benchmark::State& state) {
  RunGuest(state, R"(
    mov ecx, 100000
  l:
    call f
    dec ecx
    jnz l
    hlt
  f:
    push rbx
    push rbp
    mov rbx, rcx
    lea rbp, [rbx + 1]
    pop rbp
    pop rbx
    ret)");
}
BENCHMARK(BM_CallRet)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

void BM_Branchy(benchmark::State& state) {
  // A linear congruential generator picks the direction of two branches.
  RunGuest(state, R"(
    mov ecx, 100000
    mov eax, 12345
    xor edx, edx
    xor ebx, ebx
  l:
    imul eax, eax, 1103515245
    add eax, 12345
    test eax, 0x10000
    jz a
    inc edx
    jmp b
  a:
    dec edx
  b:
    cmp eax, ebx
    jb c
    add ebx, 0x10000
  c:
    dec ecx
    jnz l
    hlt)");
}
BENCHMARK(BM_Branchy)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace skiff::tcg::testing

BENCHMARK_MAIN();
