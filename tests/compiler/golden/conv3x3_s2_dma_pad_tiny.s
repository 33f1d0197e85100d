# Conv2d(n=1, c=6, h=9, w=7, o=5, kh=3, kw=3, stride=(2, 2), pad=(1, 1), epilogue=Epilogue(bias=False, requant=Requant(multiplier=1, shift=6, pre_shift=0, per_channel=False), residual=False, relu=False, clip=None, offset=0), pad_value=0, name='conv2d')
# schedule GemmSchedule(tile_co=2, tile_ci=1, tile_h=2, tile_w=4, tile_kh=0, virtual_threads=2, order='co_outer', loop_fold=None, hoist_weights=True, hoist_input=True, ramp=False)
# config tiny (96ee38b3e78efcce)
# tensor x input mem=inp at=0 shape=(1, 2, 9, 7, 1, 4)
# tensor w input mem=wgt at=512 shape=(2, 2, 3, 3, 4, 4)
# tensor y output mem=out at=1280 shape=(1, 2, 5, 4, 1, 4)
# tensor uops const mem=uop at=1536 shape=(71,)
# kernel k0 at 0 n=2 (dst,src,wgt):
#   0,0,0 4,18,0
# kernel k1 at 2 n=8 (dst,src,wgt):
#   0,9,3 4,27,3 8,9,12 12,27,12 0,18,6 4,36,6 8,18,15 12,36,15
# kernel k2 at 10 n=4 (dst,src,wgt):
#   0,1,1 4,19,1 8,1,10 12,19,10
# kernel k3 at 14 n=12 (dst,src,wgt):
#   0,45,18 4,63,18 8,45,27 12,63,27 0,46,19 4,64,19 8,46,28 12,64,28 0,47,20 4,65,20 8,47,29 12,65,29
# kernel k4 at 26 n=2 (dst,src,wgt):
#   16,0,0 20,18,0
# kernel k5 at 28 n=8 (dst,src,wgt):
#   16,9,3 20,27,3 24,9,12 28,27,12 16,18,6 20,36,6 24,18,15 28,36,15
# kernel k6 at 36 n=4 (dst,src,wgt):
#   16,1,1 20,19,1 24,1,10 28,19,10
# kernel k7 at 40 n=12 (dst,src,wgt):
#   16,45,18 20,63,18 24,45,27 28,63,27 16,46,19 20,64,19 24,46,28 28,64,28 16,47,20 20,65,20 24,47,29 28,65,29
# kernel k8 at 52 n=1 (dst,src,wgt):
#   0,0,0
# kernel k9 at 53 n=8 (dst,src,wgt):
#   0,9,3 1,11,3 2,13,3 3,15,3 0,18,6 1,20,6 2,22,6 3,24,6
# kernel k10 at 61 n=2 (dst,src,wgt):
#   0,1,1 4,1,10
# kernel k11 at 63 n=8 (dst,src,wgt):
#   0,45,18 1,47,18 2,49,18 3,51,18 4,45,27 5,47,27 6,49,27 7,51,27
LOAD mem=uop dram_base=384 y_size=1 x_size=71 x_stride=71
LOAD mem=inp y_size=4 x_size=7 x_stride=7 y_pad_0=1 x_pad_0=1 x_pad_1=1
LOAD mem=wgt dram_base=32 y_size=2 x_size=9 x_stride=18 deps=push_next
ALU alu_op=outmode use_imm=1 imm=6
GEMM uop_end=2 iter_out=2 iter_in=4 dst_factor_out=8 dst_factor_in=1 src_factor_in=2 wgt_factor_out=9 overwrite=1 deps=pop_prev
LOAD mem=inp sram_base=45 dram_base=63 y_size=4 x_size=7 x_stride=7 y_pad_0=1 x_pad_0=1 x_pad_1=1
GEMM uop_bgn=2 uop_end=10 iter_out=3 iter_in=4 dst_factor_in=1 src_factor_out=1 src_factor_in=2 wgt_factor_out=1
LOAD mem=wgt sram_base=18 dram_base=41 y_size=2 x_size=9 x_stride=18 deps=push_next
GEMM uop_bgn=10 uop_end=14 iter_out=2 iter_in=4 dst_factor_in=1 src_factor_out=1 src_factor_in=2 wgt_factor_out=1 deps=push_prev
GEMM uop_bgn=14 uop_end=26 iter_out=3 iter_in=4 dst_factor_in=1 src_factor_out=9 src_factor_in=2 wgt_factor_out=3 deps=pop_prev,push_prev,push_next
LOAD mem=inp dram_base=21 y_size=5 x_size=7 x_stride=7 x_pad_0=1 x_pad_1=1 deps=pop_next,push_next
STORE mem=out dram_base=320 y_size=2 x_size=8 x_stride=20 deps=pop_prev,push_prev
GEMM uop_bgn=26 uop_end=28 iter_out=2 iter_in=4 dst_factor_out=8 dst_factor_in=1 src_factor_in=2 wgt_factor_out=9 overwrite=1 deps=pop_prev
LOAD mem=inp sram_base=45 dram_base=84 y_size=5 x_size=7 x_stride=7 x_pad_0=1 x_pad_1=1 deps=pop_next,push_next
GEMM uop_bgn=28 uop_end=36 iter_out=3 iter_in=4 dst_factor_in=1 src_factor_out=1 src_factor_in=2 wgt_factor_out=1
GEMM uop_bgn=36 uop_end=40 iter_out=2 iter_in=4 dst_factor_in=1 src_factor_out=1 src_factor_in=2 wgt_factor_out=1 deps=push_prev
GEMM uop_bgn=40 uop_end=52 iter_out=3 iter_in=4 dst_factor_in=1 src_factor_out=9 src_factor_in=2 wgt_factor_out=3 deps=pop_prev,push_prev,push_next
LOAD mem=inp dram_base=49 y_size=2 x_size=7 x_stride=7 y_pad_1=1 x_pad_0=1 x_pad_1=1 deps=pop_next,push_next
STORE mem=out sram_base=16 dram_base=328 y_size=2 x_size=8 x_stride=20 deps=pop_prev
GEMM uop_bgn=52 uop_end=53 iter_out=2 iter_in=4 dst_factor_out=4 dst_factor_in=1 src_factor_in=2 wgt_factor_out=9 overwrite=1 deps=pop_prev,pop_next
LOAD mem=inp sram_base=45 dram_base=112 y_size=2 x_size=7 x_stride=7 y_pad_1=1 x_pad_0=1 x_pad_1=1 deps=pop_next,push_next
GEMM uop_bgn=53 uop_end=61 iter_out=2 iter_in=3 dst_factor_out=4 src_factor_in=1 wgt_factor_out=9 wgt_factor_in=1
GEMM uop_bgn=61 uop_end=63 iter_out=2 iter_in=4 dst_factor_in=1 src_factor_out=1 src_factor_in=2 wgt_factor_out=1
GEMM uop_bgn=63 uop_end=71 iter_out=3 iter_in=3 src_factor_out=9 src_factor_in=1 wgt_factor_out=3 wgt_factor_in=1 deps=pop_prev,push_next
STORE mem=out dram_base=336 y_size=2 x_size=4 x_stride=20 deps=pop_prev,push_prev
ALU alu_op=outmode use_imm=1
FINISH deps=pop_next
