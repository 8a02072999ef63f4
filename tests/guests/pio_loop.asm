; Writes to the ignored port 0x80 100,000 times, then leaves through
; debug-exit with code 0: a benchmark of port-I/O exits.
%include "lib.inc"
global _start
_start:
  mov ecx, 100000
.loop:
  out 0x80, al
  dec ecx
  jnz .loop
  DEBUG_EXIT_WITH 0
