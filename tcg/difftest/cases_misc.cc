// Hand-written cases: string ops (REP, REPE/REPNE, DF 0/1, count 0), stack
// (PUSH/POP forms, PUSH RSP, POP RSP, POP [RSP], PUSHF/POPF, ENTER/LEAVE,
// CALL/RET inside the snippet), CMOVcc/SETcc/Jcc/LOOP/JRCXZ, XCHG/XADD/
// CMPXCHG/CMPXCHG8B/16B, MOVZX/MOVSX/MOVSXD, LEA, LAHF/SAHF, XLAT, and
// exceptions (#UD, #BP, #PF, #GP, #SS, #AC is not enabled).
#include "tcg/difftest/cases.h"

namespace skiff::tcg::difftest {

std::vector<CaseSpec> MiscCases() {
  return {
      // ---- String operations --------------------------------------------
      {"rep movsb/movsq forward",
       "cld\nlea rsi, [rbx-0x100]\nlea rdi, [rbx+0x100]\nmov ecx, 37\nrep "
       "movsb\nmov ecx, 9\nrep movsq",
       0, 2},
      {"rep movsd backward",
       "std\nlea rsi, [rbx+0x40]\nlea rdi, [rbx+0x400]\nmov ecx, 17\nrep "
       "movsd\ncld",
       0, 2},
      {"rep movs overlapping",
       "cld\nlea rsi, [rbx]\nlea rdi, [rbx+3]\nmov ecx, 40\nrep movsb", 0, 2},
      {"rep stos all sizes",
       "cld\nlea rdi, [rbx-0x200]\nmov ecx, 33\nrep stosb\nmov ecx, 5\nrep "
       "stosw\nstd\nmov ecx, 7\nrep stosd\nmov ecx, 3\nrep stosq\ncld",
       0, 2},
      {"rep count zero",
       "cld\nlea rsi, [rbx]\nlea rdi, [rbx+0x80]\nxor ecx, ecx\ncmp eax, "
       "edx\nrep movsb\nrepe cmpsb\nrepne scasq",
       0, 4},
      {"lods", "cld\nlea rsi, [rbx+5]\nlodsb\nlodsw\nlodsd\nlodsq\nstd\nlodsq",
       0, 2},
      {"repe cmpsb stops on mismatch",
       "cld\nlea rsi, [rbx]\nlea rdi, [rbx+0x100]\nmov ecx, 64\nrep "
       "movsb\nmov byte [rbx+0x120], 0x5a\nlea rsi, [rbx]\nlea rdi, "
       "[rbx+0x100]\nmov ecx, 64\nrepe cmpsb",
       0, 2},
      {"repne scasb finds byte",
       "cld\nlea rdi, [rbx]\nmov byte [rbx+50], 0xa5\nmov al, 0xa5\nmov "
       "ecx, 100\nrepne scasb",
       0, 2},
      {"repe scasd backward",
       "std\nlea rdi, [rbx+0x200]\nmov eax, [rdi]\nmov ecx, 20\nrepe "
       "scasd\ncld",
       0, 2},
      {"cmps/scas single",
       "lea rsi, [rbx+1]\nlea rdi, [rbx+9]\ncmpsq\ncmpsd\nscasw\nscasb", 0, 4},
      {"movs 32-bit address size",
       "cld\nlea esi, [rbx]\nlea edi, [rbx+0x40]\nmov ecx, 4\na32 rep "
       "movsd",
       0, 1},
      // ---- Stack --------------------------------------------------------
      {"push/pop forms",
       "push rax\npush qword [rbx]\npush 0x12\npush -0x1234567\npush "
       "r8\npop rcx\npop qword [rbx+8]\npop rdx\npop r9\npop r10",
       0, 4},
      {"push/pop 16-bit",
       "push ax\npush word 0x1234\npush word [rbx]\npop cx\npop dx\npop word "
       "[rbx+2]",
       0, 2},
      {"push rsp / pop rsp",
       "mov rbp, rsp\npush rsp\npop rax\nsub rax, rsp\npush rbp\npop "
       "rsp\nmov rcx, rsp",
       0, 1},
      {"pop [rsp] uses new rsp",
       "push 0x55\npush 0x66\npop qword [rsp]\npop rax", 0, 1},
      {"pushf/popf arithmetic flags",
       "pushfq\npop rax\nand rax, ~0x40000\nxor rax, 0x8d5\npush "
       "rax\npopfq\npushfq\npop rcx",
       0, 4},
      {"popf df", "pushfq\nor qword [rsp], 0x400\npopfq\npushfq\npop rax\ncld",
       0, 2},
      {"enter/leave",
       "mov rbp, rsp\nenter 0x20, 0\nmov [rbp-8], rax\nleave\nenter 0x10, "
       "1\nleave\nenter 8, 3\nleave",
       0, 2},
      {"call/ret inside",
       "call .f\nadd rax, 1\njmp .end\n.f:\nmov rcx, [rsp]\nsub rcx, "
       "rsp\nret\n.end:",
       0, 2},
      {"ret imm16",
       "call .f\njmp .end\n.f:\nret 0\n.end:\npush rax\npush "
       "rax\ncall .g\njmp .out\n.g:\nret 16\n.out:",
       0, 1},
      // ---- Conditions -----------------------------------------------------
      {"setcc all",
       "cmp rax, rcx\nseto al\nsetno ah\nsetb dl\nsetae dh\nsete sil\nsetne "
       "dil\nsetbe r8b\nseta r9b\nsets r10b\nsetns r11b\nsetp r12b\nsetnp "
       "r13b\nsetl r14b\nsetge r15b\nsetle cl\nsetg ch",
       0, 8},
      {"setcc memory", "cmp ecx, edx\nsetl byte [rbx]\nsetg byte [rbx+1]", 0,
       4},
      {"cmov all",
       "cmp rax, rcx\ncmovo rdx, rsi\ncmovb edi, r8d\ncmove r9w, r10w\ncmovbe "
       "r11, [rbx]\ncmovs r12d, [rbx+4]\ncmovp r13, rax\ncmovl r14, "
       "rcx\ncmovle "
       "r15d, eax\ncmovno rdx, rsi\ncmovae edi, r8d\ncmovne r9w, r10w\ncmova "
       "r11, [rbx+8]\ncmovns r12d, r13d\ncmovnp r13, rcx\ncmovge r14, "
       "rax\ncmovg r15, rdx",
       0, 8},
      {"cmov32 false still zero-extends",
       "mov rax, -1\nmov rcx, -1\ncmp eax, eax\ncmovne eax, ecx", 0, 1},
      {"jcc all",
       "xor edx, edx\ncmp rax, rcx\njo .a\nor edx, 1\n.a: jb .b\nor edx, "
       "2\n.b: je .c\nor edx, 4\n.c: jbe .d\nor edx, 8\n.d: js .e\nor edx, "
       "16\n.e: jp .f\nor edx, 32\n.f: jl .g\nor edx, 64\n.g: jle .h\nor "
       "edx, 128\n.h:",
       kAf, 8},
      {"loop/loope/loopne/jrcxz",
       "mov ecx, 10\nxor eax, eax\n.l: add eax, ecx\nloop .l\nmov ecx, "
       "5\n.m: cmp eax, 0\nloopne .m\nxor ecx, ecx\njrcxz .z\nmov eax, "
       "1\n.z: mov ecx, 3\n.n: test eax, eax\nloope .n",
       kAf, 2},
      // ---- Exchange and compare-exchange ----------------------------------
      {"xchg forms",
       "xchg rax, rcx\nxchg edx, esi\nxchg di, r8w\nxchg r9b, r10b\nxchg "
       "[rbx], r11\nxchg eax, eax\nxchg ah, al",
       0, 4},
      {"nop 90 does not zero-extend", "mov rax, -1\nnop\nxchg eax, eax", 0, 1},
      {"xadd same register",
       "xadd rax, rax\nxadd ecx, ecx\nxadd dx, dx\nxadd r8b, r8b", 0, 2},
      {"xadd",
       "xadd rax, rcx\nxadd [rbx], edx\nxadd si, di\nlock xadd [rbx+8], "
       "r8b",
       0, 8},
      {"cmpxchg equal and not",
       "mov rax, [rbx]\ncmpxchg [rbx], rcx\ncmpxchg [rbx+8], rdx\nmov eax, "
       "esi\ncmpxchg esi, edi\ncmpxchg di, r8w\ncmpxchg r9b, r10b",
       0, 8},
      {"cmpxchg32 writes rax on failure",
       "mov rax, -1\nmov dword [rbx], 5\ncmpxchg [rbx], ecx", 0, 1},
      {"cmpxchg8b",
       "mov rax, [rbx]\nmov rdx, rax\nshr rdx, 32\ncmpxchg8b [rbx]\ncmpxchg8b "
       "[rbx+8]\nlock cmpxchg8b [rbx+16]",
       kAf | kOf, 4},  // SHR by 32 leaves AF and OF undefined
      {"cmpxchg16b",
       "lea rsi, [rbx+0x100]\nand rsi, -16\nmov rax, [rsi]\nmov rdx, "
       "[rsi+8]\ncmpxchg16b [rsi]\ncmpxchg16b [rsi+16]\nlock cmpxchg16b "
       "[rsi+32]",
       0, 4},
      {"cmpxchg16b misaligned #GP",
       "lea rsi, [rbx+0x108]\nand rsi, -16\ncmpxchg16b [rsi+8]", 0, 1},
      // ---- Moves ----------------------------------------------------------
      {"movzx/movsx",
       "movzx eax, cl\nmovzx rdx, si\nmovsx edi, r8b\nmovsx r9, r10w\nmovzx "
       "r11w, byte [rbx]\nmovsx r12, byte [rbx+1]\nmovsxd r13, r14d\nmovsxd "
       "r15, dword [rbx+4]\nmovzx ecx, ah",
       0, 8},
      {"mov forms",
       "mov rax, 0x123456789abcdef0\nmov ecx, -1\nmov dx, 0x8000\nmov sil, "
       "0x80\nmov [rbx], rax\nmov dword [rbx+8], -5\nmov qword [rbx+16], "
       "-5\nmov r8, [rbx]\nmov r9d, [rbx+4]\nmov ah, [rbx+3]",
       0, 2},
      {"lea forms",
       "lea rax, [rcx+rdx*4+0x10]\nlea edx, [rsi+rdi*8-1]\nlea si, "
       "[rax+rcx]\nlea r8, [r12+r13*2]\nlea r9, [rbp+0x7f]\nlea r10, "
       "[r13]\nlea r11d, [rax*2]\nlea rdi, [rel $]\nlea ecx, [eax+edx]",
       0, 8},
      {"lahf/sahf",
       "lahf\nmov cl, ah\nmov ah, 0xd5\nsahf\nlahf\nmov dl, ah\nmov ah, "
       "0\nsahf",
       0, 8},
      {"xlat", "mov al, 0x7f\nxlatb\nmov al, 0xff\nxlatb", 0, 4},
      // ---- Exceptions -----------------------------------------------------
      {"ud2 #UD", "mov eax, 1\nud2\nmov eax, 2", 0, 1},
      {"int3 #BP", "mov eax, 1\nint3\nmov eax, 2", 0, 1},
      {"invalid in 64-bit mode #UD (aaa)", "db 0x37", 0, 1},
      {"invalid in 64-bit mode #UD (push es)", "db 0x06", 0, 1},
      {"int 3 (cd 03) #BP", "mov eax, 1\nint 3\nmov eax, 2", 0, 1},
      {"int1 (f1) #DB", "mov eax, 1\nint1\nmov eax, 2", 0, 1},
      {"into in 64-bit mode #UD", "db 0xce", 0, 1},
      {"sal alias /6", "db 0x48, 0xc1, 0xf0, 0x05\ndb 0xd1, 0xf1", kAf | kOf,
       4},
      {"self-modifying code",
       "lea rax, [rel .p]\nmov byte [rax], 0x90\n.p: int3\nmov ecx, 5\nmov "
       "byte [rax], 0xcc",
       0, 1},
      {"read cs and ss selectors", "mov eax, cs\nmov ecx, ss", 0, 1},
      {"loop with 32-bit count (a32)",
       "mov rcx, 0x100000003\nxor eax, eax\n.l: inc eax\na32 loop .l", 0, 1},
      {"hlt at cpl3 #GP", "mov eax, 1\nhlt", 0, 1},
      {"cli at cpl3 #GP", "cli", 0, 1},
      {"in at cpl3 #GP", "in al, 0x80", 0, 1},
      {"mov cr0 at cpl3 #GP", "mov rax, cr0", 0, 1},
      {"rdmsr at cpl3 #GP", "rdmsr", 0, 1},
      {"read unmapped #PF", "mov rax, [0x1000000]", 0, 1},
      {"write below data #PF", "mov [rbx-0x2001], al", 0, 1},
      {"write across data end #PF", "mov qword [rbx+0x1ffc], -1", 0, 1},
      {"rmw write to unmapped #PF", "add [rbx+0x2000], eax", 0, 1},
      {"lock rmw split across data end #PF", "lock not qword [rbx+0x1ffa]", 0,
       1},
      {"split read across data end #PF", "mov rax, [rbx+0x1ffa]", 0, 1},
      {"read kernel page #PF", "mov rax, [0x5000]", 0, 1},
      {"non-canonical #GP", "mov rax, 0x8000000000000000\nmov rcx, [rax]", 0,
       1},
      {"non-canonical stack #SS",
       "mov rax, 0x8000000000000000\nmov rsp, rax\npush rcx", 0, 1},
      {"jump to unmapped #PF", "mov rax, 0x1000000\njmp rax", 0, 1},
  };
}

}  // namespace skiff::tcg::difftest
