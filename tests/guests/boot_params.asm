; Prints what skiff handed over in boot_params (RSI): the command line, the
; number of e820 entries and whether the setup header carries "HdrS".
; Offsets: Documentation/x86/zero-page.rst.
%include "lib.inc"
global _start
_start:
  lea rsp, [rel stack_top]
  mov rbx, rsi                    ; boot_params
  lea rsi, [rel s_cmdline]
  call puts
  mov esi, [rbx + 0x228]          ; hdr.cmd_line_ptr
  call puts
  lea rsi, [rel s_e820]
  call puts
  movzx eax, byte [rbx + 0x1e8]   ; e820_entries
  call puthex
  lea rsi, [rel s_hdrs]
  call puts
  cmp dword [rbx + 0x202], 0x53726448   ; hdr.header == "HdrS"
  lea rsi, [rel s_yes]
  je .print
  lea rsi, [rel s_no]
.print:
  call puts
  ; The first e820 entry must be usable RAM starting at 0.
  cmp qword [rbx + 0x2d0], 0
  jne .bad
  cmp dword [rbx + 0x2d0 + 16], 1
  jne .bad
  RESET
.bad:
  DEBUG_EXIT_WITH 7

section .data
s_cmdline: db "cmdline=", 0
s_e820: db 13, 10, "e820=", 0
s_hdrs: db 13, 10, "hdrs=", 0
s_yes: db "yes", 13, 10, 0
s_no: db "no", 13, 10, 0
section .bss
  resb 4096
stack_top:
