; Loads an empty IDT and executes an undefined opcode: #UD cannot be
; delivered, nor can #DF, so the CPU shuts down (triple fault).
%include "lib.inc"
global _start
_start:
  lidt [rel empty_idt]
  ud2

section .data
empty_idt:
  dw 0
  dq 0
