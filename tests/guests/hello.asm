; Prints a line on the serial console and resets the machine.
%include "lib.inc"
global _start
_start:
  lea rsp, [rel stack_top]
  lea rsi, [rel message]
  call puts
  RESET

section .data
message: db "hello from a skiff guest", 13, 10, 0
section .bss
  resb 4096
stack_top:
