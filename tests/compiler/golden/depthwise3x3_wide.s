# DepthwiseConv2d(n=1, c=24, h=6, w=6, kh=3, kw=3, stride=(1, 1), pad=(1, 1), epilogue=Epilogue(bias=False, requant=Requant(multiplier=1, shift=4, pre_shift=0, per_channel=False), residual=False, relu=False, clip=None, offset=0), pad_value=0, name='depthwise_conv2d')
# schedule GemmSchedule(tile_co=1, tile_ci=2, tile_h=6, tile_w=6, tile_kh=0, virtual_threads=2, order='co_outer', loop_fold=None, hoist_weights=True, hoist_input=True, ramp=False)
# config wide (e141b0013bd6be3e)
# tensor x input mem=inp at=0 shape=(1, 4, 8, 8, 1, 8)
# tensor w input mem=wgt at=2048 shape=(2, 2, 3, 3, 16, 8)
# tensor y output mem=out at=6656 shape=(1, 2, 6, 6, 1, 16)
# tensor uops const mem=uop at=7936 shape=(74,)
# kernel k0 at 0 n=1 (dst,src,wgt):
#   0,0,0
# kernel k1 at 1 n=18 (dst,src,wgt):
#   0,64,9 1,65,9 2,66,9 3,67,9 4,68,9 5,69,9 0,65,10 1,66,10 2,67,10 3,68,10 4,69,10 5,70,10
#   0,66,11 1,67,11 2,68,11 3,69,11 4,70,11 5,71,11
# kernel k2 at 19 n=12 (dst,src,wgt):
#   0,8,3 1,9,3 2,10,3 3,11,3 4,12,3 5,13,3 0,16,6 1,17,6 2,18,6 3,19,6 4,20,6 5,21,6
# kernel k3 at 31 n=6 (dst,src,wgt):
#   0,1,1 1,2,1 2,3,1 3,4,1 4,5,1 5,6,1
# kernel k4 at 37 n=1 (dst,src,wgt):
#   36,128,18
# kernel k5 at 38 n=18 (dst,src,wgt):
#   36,192,27 37,193,27 38,194,27 39,195,27 40,196,27 41,197,27 36,193,28 37,194,28 38,195,28 39,196,28 40,197,28 41,198,28
#   36,194,29 37,195,29 38,196,29 39,197,29 40,198,29 41,199,29
# kernel k6 at 56 n=12 (dst,src,wgt):
#   36,136,21 37,137,21 38,138,21 39,139,21 40,140,21 41,141,21 36,144,24 37,145,24 38,146,24 39,147,24 40,148,24 41,149,24
# kernel k7 at 68 n=6 (dst,src,wgt):
#   36,129,19 37,130,19 38,131,19 39,132,19 40,133,19 41,134,19
LOAD mem=uop dram_base=1984 y_size=1 x_size=74 x_stride=74
LOAD mem=inp y_size=1 x_size=128 x_stride=128
ALU alu_op=outmode use_imm=1 imm=4
LOAD mem=wgt dram_base=16 y_size=1 x_size=18 x_stride=18 deps=push_next
GEMM uop_end=1 iter_out=6 iter_in=6 dst_factor_out=6 dst_factor_in=1 src_factor_out=8 src_factor_in=1 overwrite=1 deps=pop_prev
LOAD mem=inp sram_base=128 dram_base=128 y_size=1 x_size=128 x_stride=128
GEMM uop_bgn=1 uop_end=19 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3
LOAD mem=wgt sram_base=18 dram_base=34 y_size=1 x_size=18 x_stride=18 deps=push_next
GEMM uop_bgn=19 uop_end=31 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1
GEMM uop_bgn=31 uop_end=37 iter_out=2 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1 deps=push_next
STORE mem=out dram_base=416 y_size=1 x_size=36 x_stride=36 deps=pop_prev
GEMM uop_bgn=37 uop_end=38 iter_out=6 iter_in=6 dst_factor_out=6 dst_factor_in=1 src_factor_out=8 src_factor_in=1 overwrite=1 deps=pop_prev
GEMM uop_bgn=38 uop_end=56 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3
GEMM uop_bgn=56 uop_end=68 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1
GEMM uop_bgn=68 uop_end=74 iter_out=2 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1 deps=push_next
STORE mem=out sram_base=36 dram_base=452 y_size=1 x_size=36 x_stride=36 deps=pop_prev,push_prev
ALU alu_op=outmode use_imm=1
FINISH deps=pop_next
