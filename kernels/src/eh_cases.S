@ Exception-handling test cases for the satman test kernels.
@
@ Functions laid out as the ARTIQ 9 compiler lays out kernel code with
@ try/except/finally (kernel-abi.md §1 and §3): ARM code with EHABI unwind
@ directives, the generic model with `.personality __artiq_personality`
@ (lld resolves that R_ARM_PREL31 to the personality's PLT stub), and a
@ GCC-style LSDA in `.handlerdata`: LPStart omitted, TType "absptr" whose
@ entries are R_ARM_TARGET2 (`--target2=rel`: self-relative offsets to a
@ 4-byte exception id), call sites in uleb128 relative to the function start.
@
@ Every function has the same frame: `push {r4-r11, lr}`, a frame pointer
@ (`.setfp r11, sp, #28`), `vpush {d8}`, and 76 bytes of locals: a 64-byte
@ exception object at sp+8 and a canary at sp+4. Before raising, r4-r10 and
@ d8 get magic values; the landing pads check that the unwinder restored
@ them, the frame pointer, the stack pointer (canary) and the exception (id,
@ a copy and not the raising frame's object, message pointer preserved).
@ A failed check makes the function return 1000 + a check code, which the
@ Rust side outputs as an RTIO event so that the test sees it.
@
@ Assembled into the catch_* and finally_* examples by `satman_test_kernels::eh_cases!()`
@ (src/eh.rs, which also declares the functions for Rust).

    .syntax unified
    .arm

@ Exception ids the type tables point at.
    .section .rodata.eh_case_ids,"a",%progbits
    .p2align 2
eh_id_value_error:
    .long 18
eh_id_index_error:
    .long 10
eh_id_rtio_underflow:
    .long 0

@ ---- helpers ----------------------------------------------------------------

.macro load32 reg, value
    movw \reg, #:lower16:\value
    movt \reg, #:upper16:\value
.endm

@ r4-r10 and d8 (= r4:r5) get values derived from `seed`.
.macro set_magic seed
    load32 r4, (\seed + 0x04040404)
    load32 r5, (\seed + 0x05050505)
    load32 r6, (\seed + 0x06060606)
    load32 r7, (\seed + 0x07070707)
    load32 r8, (\seed + 0x08080808)
    load32 r9, (\seed + 0x09090909)
    load32 r10, (\seed + 0x0a0a0a0a)
    vmov d8, r4, r5
.endm

@ Checks one register against its magic value; on mismatch r0 = code and
@ branch to `fail`. Clobbers r2.
.macro check_reg reg, value, code, fail
    load32 r2, \value
    cmp \reg, r2
    movne r0, #\code
    bne \fail
.endm

@ Checks r4-r10, d8, the canary at sp+4 and the frame pointer. Clobbers r2, r3.
.macro check_frame seed, code, fail
    check_reg r4, (\seed + 0x04040404), \code, \fail
    check_reg r5, (\seed + 0x05050505), \code, \fail
    check_reg r6, (\seed + 0x06060606), \code, \fail
    check_reg r7, (\seed + 0x07070707), \code, \fail
    check_reg r8, (\seed + 0x08080808), \code, \fail
    check_reg r9, (\seed + 0x09090909), \code, \fail
    check_reg r10, (\seed + 0x0a0a0a0a), \code, \fail
    vmov r2, r3, d8
    cmp r2, r4
    cmpeq r3, r5
    movne r0, #(\code + 1)
    bne \fail
    ldr r2, [sp, #4]
    movw r3, #0xbeef
    cmp r2, r3
    movne r0, #(\code + 2)
    bne \fail
    add r2, sp, #112
    cmp r11, r2
    movne r0, #(\code + 3)
    bne \fail
.endm

@ Function entry: the frame every case uses, with its unwind directives.
.macro prologue name
    .section .text.\name,"ax",%progbits
    .globl \name
    .hidden \name
    .type \name,%function
    .p2align 2
\name:
    .fnstart
    .personality __artiq_personality
    .save {r4-r11, lr}
    push {r4-r11, lr}
    .setfp r11, sp, #28
    add r11, sp, #28
    .vsave {d8}
    vpush {d8}
    .pad #76
    sub sp, sp, #76
    movw r2, #0xbeef
    str r2, [sp, #4]
.endm

.macro epilogue
    sub sp, r11, #36
    vpop {d8}
    pop {r4-r11, pc}
.endm

@ Copies the 64-byte exception template at r0 into the frame (sp+8) and
@ leaves r0 = the frame's copy. Clobbers r3-r7, r12.
.macro copy_template
    mov r12, r0
    add r3, sp, #8
    ldm r12!, {r4-r7}
    stm r3!, {r4-r7}
    ldm r12!, {r4-r7}
    stm r3!, {r4-r7}
    ldm r12!, {r4-r7}
    stm r3!, {r4-r7}
    ldm r12!, {r4-r7}
    stm r3!, {r4-r7}
    add r0, sp, #8
.endm

@ Checks the exception at r1 at a landing pad: id, not the raising frame's
@ object, same message pointer as the template copy. Clobbers r2, r3.
.macro check_exception id, code, fail
    ldr r2, [r1]
    cmp r2, #\id
    movne r0, #\code
    bne \fail
    add r2, sp, #8
    cmp r1, r2
    moveq r0, #(\code + 1)
    beq \fail
    ldr r2, [r1, #28]
    ldr r3, [sp, #36]
    cmp r2, r3
    movne r0, #(\code + 2)
    bne \fail
.endm

@ The LSDA of a function with one try region [begin, end) whose landing pad
@ catches the exception whose id is at `id_label`.
.macro lsda_catch name, begin, end, pad, id_label
    .handlerdata
    .p2align 2
    .byte 0xff                          @ LPStart: omitted (function start)
    .byte 0x00                          @ TType: absptr (target2 = rel)
    .uleb128 .L\name\()_tt - .L\name\()_tt_ref
.L\name\()_tt_ref:
    .byte 0x01                          @ call sites: uleb128
    .uleb128 .L\name\()_cs_end - .L\name\()_cs
.L\name\()_cs:
    .uleb128 \begin - \name
    .uleb128 \end - \begin
    .uleb128 \pad - \name
    .uleb128 1                          @ action record 1
.L\name\()_cs_end:
    .byte 1                             @ filter: type 1
    .byte 0                             @ end of the chain
    .p2align 2
    .long \id_label(target2)            @ type 1
.L\name\()_tt:
    .fnend
.endm

@ ---- case 1: try: raise ValueError except ValueError --------------------------
@ int eh_catch_value_error(const Exception *template)
@ The handler ends the catch, outputs 42 on 0x0100_0F00 and returns 42.

    prologue eh_catch_value_error
    copy_template
    set_magic 0x10000000
.Lcv_begin:
    bl __artiq_raise
.Lcv_end:
    udf #0
.Lcv_pad:
    check_exception 18, 1, .Lcv_fail
    check_frame 0x10000000, 4, .Lcv_fail
    bl __artiq_end_catch
    load32 r0, 0x01000F00
    mov r1, #42
    bl rtio_output
    mov r0, #42
    b .Lcv_ret
.Lcv_fail:
    add r0, r0, #1000
.Lcv_ret:
    epilogue
    lsda_catch eh_catch_value_error, .Lcv_begin, .Lcv_end, .Lcv_pad, eh_id_value_error

@ ---- case 2: try: raise ValueError except IndexError ---------------------------
@ int eh_catch_index_error(const Exception *template)
@ The handler does not match: the ValueError stays uncaught and the
@ function never returns. (Were the pad entered, it would return 1000 + code.)

    prologue eh_catch_index_error
    copy_template
    set_magic 0x20000000
.Lci_begin:
    bl __artiq_raise
.Lci_end:
    udf #0
.Lci_pad:
    mov r0, #99
    add r0, r0, #1000
    epilogue
    lsda_catch eh_catch_index_error, .Lci_begin, .Lci_end, .Lci_pad, eh_id_index_error

@ ---- case 3: try: (try: raise ValueError finally: ...) except ValueError --------
@ int eh_finally_outer(const Exception *template)
@ eh_finally_inner raises; its cleanup pad outputs 1 on 0x0100_0F00, delays
@ 1000 mu and calls __artiq_resume; the outer handler catches the ValueError,
@ ends the catch, outputs 2 and returns 2.

    prologue eh_finally_inner
    copy_template
    set_magic 0x30000000
.Lfi_begin:
    bl __artiq_raise
.Lfi_end:
    udf #0
.Lfi_pad:
    check_exception 18, 40, .Lfi_fail
    check_frame 0x30000000, 43, .Lfi_fail
    mov r4, #1
    b .Lfi_out
.Lfi_fail:
    add r4, r0, #1000
.Lfi_out:
    load32 r0, 0x01000F00
    mov r1, r4
    bl rtio_output
    mov r0, #1000
    mov r1, #0
    bl delay_mu
    bl __artiq_resume
    udf #0
    .handlerdata
    .p2align 2
    .byte 0xff                          @ LPStart: omitted
    .byte 0xff                          @ TType: omitted (no catch clauses)
    .byte 0x01                          @ call sites: uleb128
    .uleb128 .Lfi_cs_end - .Lfi_cs
.Lfi_cs:
    .uleb128 .Lfi_begin - eh_finally_inner
    .uleb128 .Lfi_end - .Lfi_begin
    .uleb128 .Lfi_pad - eh_finally_inner
    .uleb128 0                          @ no action: a cleanup
.Lfi_cs_end:
    .fnend

    prologue eh_finally_outer
    copy_template
    set_magic 0x50000000
.Lfo_begin:
    bl eh_finally_inner
.Lfo_end:
    mov r0, #20
    b .Lfo_fail
.Lfo_pad:
    check_exception 18, 21, .Lfo_fail
    check_frame 0x50000000, 24, .Lfo_fail
    bl __artiq_end_catch
    load32 r0, 0x01000F00
    mov r1, #2
    bl rtio_output
    mov r0, #2
    b .Lfo_ret
.Lfo_fail:
    add r0, r0, #1000
.Lfo_ret:
    epilogue
    .handlerdata
    .p2align 2
    .byte 0xff
    .byte 0x00
    .uleb128 .Lfo_tt - .Lfo_tt_ref
.Lfo_tt_ref:
    .byte 0x01
    .uleb128 .Lfo_cs_end - .Lfo_cs
.Lfo_cs:
    .uleb128 .Lfo_begin - eh_finally_outer
    .uleb128 .Lfo_end - .Lfo_begin
    .uleb128 .Lfo_pad - eh_finally_outer
    .uleb128 1
.Lfo_cs_end:
    .byte 1, 0
    .p2align 2
    .long eh_id_value_error(target2)
.Lfo_tt:
    .fnend

@ ---- case 4: try: rtio_output in the past except RTIOUnderflow -----------------
@ int eh_catch_underflow(void)
@ Outputs 5 on 0x0100_0F00 at the current `now` (the caller sets it in the
@ past); the firmware raises RTIOUnderflow (id 0) from inside rtio_output,
@ the handler ends the catch and returns 43. Returns 1000 + 30 if nothing
@ was raised.

    prologue eh_catch_underflow
    set_magic 0x60000000
    load32 r0, 0x01000F00
    mov r1, #5
.Lcu_begin:
    bl rtio_output
.Lcu_end:
    mov r0, #30
    b .Lcu_fail
.Lcu_pad:
    ldr r2, [r1]
    cmp r2, #0
    movne r0, #31
    bne .Lcu_fail
    check_frame 0x60000000, 32, .Lcu_fail
    bl __artiq_end_catch
    mov r0, #43
    b .Lcu_ret
.Lcu_fail:
    add r0, r0, #1000
.Lcu_ret:
    epilogue
    lsda_catch eh_catch_underflow, .Lcu_begin, .Lcu_end, .Lcu_pad, eh_id_rtio_underflow
