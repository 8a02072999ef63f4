; An interrupt from a device: programs the 8259 pair (as Linux's
; init_8259A does), unmasks IRQ 4, enables the UART's transmitter-empty
; interrupt and halts with interrupts on. The IRQ 4 handler (vector 0x24)
; prints "irq4 ok" and resets. Under KVM this is the in-kernel irqchip; under
; tcg the userspace one (PIC -> local APIC LINT0 in ExtINT mode).
%include "lib.inc"
global _start
_start:
  lea rsp, [rel stack_top]
  lea rax, [rel irq4_handler]
  lea rdi, [rel idt + 0x24 * 16]
  mov [rdi], ax
  mov word [rdi + 2], cs
  mov word [rdi + 4], 0x8e00
  shr rax, 16
  mov [rdi + 6], ax
  shr rax, 16
  mov [rdi + 8], eax
  lidt [rel idt_desc]

  mov al, 0x11          ; ICW1: edge, cascade, ICW4 follows
  out 0x20, al
  out 0xa0, al
  mov al, 0x20          ; ICW2: vector bases 0x20 and 0x28
  out 0x21, al
  mov al, 0x28
  out 0xa1, al
  mov al, 4             ; ICW3: slave on IR2
  out 0x21, al
  mov al, 2
  out 0xa1, al
  mov al, 1             ; ICW4: 8086 mode
  out 0x21, al
  out 0xa1, al
  mov al, 0xef          ; OCW1: only IRQ 4 unmasked
  out 0x21, al
  mov al, 0xff
  out 0xa1, al

  mov dx, COM1 + 4      ; MCR: DTR, RTS, OUT2 (the PC's IRQ enable)
  mov al, 0x0b
  out dx, al
  mov dx, COM1 + 1      ; IER: transmitter holding register empty
  mov al, 0x02
  out dx, al
  sti
.wait:
  hlt
  jmp .wait

irq4_handler:
  mov dx, COM1 + 1      ; quiet the UART before printing by polling
  xor eax, eax
  out dx, al
  lea rsi, [rel s_ok]
  call puts
  RESET

section .data
align 16
idt: times 64 dq 0, 0
idt_desc:
  dw 64 * 16 - 1
  dq idt
s_ok: db "irq4 ok", 13, 10, 0
section .bss
  resb 4096
stack_top:
