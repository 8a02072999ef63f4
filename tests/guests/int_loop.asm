; An integer loop of 5 instructions per iteration, 20 million iterations
; (100 M instructions), then debug-exit 0: the interpreter's MIPS figure.
%include "lib.inc"
global _start
_start:
  mov ecx, 20000000
  xor eax, eax
  xor edx, edx
.loop:
  add eax, ecx
  xor edx, eax
  shl eax, 1
  dec ecx
  jnz .loop
  DEBUG_EXIT_WITH 0
