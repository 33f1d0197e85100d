# Conv2d(n=1, c=3, h=12, w=12, o=16, kh=7, kw=7, stride=(2, 2), pad=(3, 3), epilogue=Epilogue(bias=False, requant=Requant(multiplier=1, shift=0, pre_shift=0, per_channel=True), residual=True, relu=False, clip=(0, 100), offset=0), pad_value=0, name='conv2d')
# schedule GemmSchedule(tile_co=1, tile_ci=4, tile_h=6, tile_w=6, tile_kh=0, virtual_threads=2, order='co_outer', loop_fold=None, hoist_weights=True, hoist_input=True, ramp=False)
# config wide (e141b0013bd6be3e)
# tensor x input mem=inp at=0 shape=(1, 19, 6, 6, 1, 8)
# tensor w input mem=wgt at=5632 shape=(1, 19, 1, 1, 16, 8)
# tensor consts input mem=acc at=8192 shape=(2, 1, 16)
# tensor residual input mem=acc8 at=8448 shape=(1, 1, 6, 6, 1, 16)
# tensor y output mem=out at=9216 shape=(1, 1, 6, 6, 1, 16)
# tensor uops const mem=uop at=9984 shape=(22,)
# kernel k0 at 0 n=1 (dst,src,wgt):
#   0,0,0
# kernel k1 at 1 n=6 (dst,src,wgt):
#   0,36,1 1,37,1 2,38,1 3,39,1 4,40,1 5,41,1
# kernel k2 at 7 n=6 (dst,src,wgt):
#   0,144,4 1,145,4 2,146,4 3,147,4 4,148,4 5,149,4
# kernel k3 at 13 n=6 (dst,src,wgt):
#   0,0,0 1,1,0 2,2,0 3,3,0 4,4,0 5,5,0
# kernel k4 at 19 n=1 (dst,src,wgt):
#   0,144,0
# kernel k5 at 20 n=1 (dst,src,wgt):
#   0,145,0
# kernel k6 at 21 n=1 (dst,src,wgt):
#   0,72,0
LOAD mem=uop dram_base=2496 y_size=1 x_size=22 x_stride=22
LOAD mem=inp y_size=1 x_size=144 x_stride=144
LOAD mem=acc sram_base=144 dram_base=128 y_size=1 x_size=2 x_stride=2
LOAD mem=wgt dram_base=44 y_size=1 x_size=4 x_stride=4 deps=push_next
GEMM uop_end=1 iter_out=6 iter_in=6 dst_factor_out=6 dst_factor_in=1 src_factor_out=6 src_factor_in=1 overwrite=1 deps=pop_prev
LOAD mem=inp sram_base=144 dram_base=144 y_size=1 x_size=144 x_stride=144
GEMM uop_bgn=1 uop_end=7 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=36 src_factor_in=6 wgt_factor_out=1 deps=push_prev
LOAD mem=wgt sram_base=4 dram_base=48 y_size=1 x_size=4 x_stride=4 deps=push_next
GEMM uop_bgn=7 uop_end=13 iter_out=4 iter_in=6 dst_factor_in=6 src_factor_out=36 src_factor_in=6 wgt_factor_out=1 deps=pop_prev,push_prev
LOAD mem=inp dram_base=288 y_size=1 x_size=144 x_stride=144 deps=pop_next
LOAD mem=wgt dram_base=52 y_size=1 x_size=4 x_stride=4 deps=push_next
GEMM uop_bgn=13 uop_end=19 iter_out=4 iter_in=6 dst_factor_in=6 src_factor_out=36 src_factor_in=6 wgt_factor_out=1 deps=pop_prev,push_prev
LOAD mem=inp sram_base=144 dram_base=432 y_size=1 x_size=144 x_stride=144 deps=pop_next
LOAD mem=wgt sram_base=4 dram_base=56 y_size=1 x_size=4 x_stride=4 deps=push_next
GEMM uop_bgn=7 uop_end=13 iter_out=4 iter_in=6 dst_factor_in=6 src_factor_out=36 src_factor_in=6 wgt_factor_out=1 deps=pop_prev
LOAD mem=inp dram_base=576 y_size=1 x_size=108 x_stride=108 deps=pop_next
LOAD mem=wgt dram_base=60 y_size=1 x_size=3 x_stride=3 deps=push_next
GEMM uop_bgn=13 uop_end=19 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=36 src_factor_in=6 wgt_factor_out=1 deps=pop_prev
LOAD mem=acc8 sram_base=72 dram_base=528 y_size=1 x_size=36 x_stride=36
ALU uop_bgn=19 uop_end=20 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=mul
ALU uop_bgn=20 uop_end=21 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=rshr
ALU uop_bgn=21 uop_end=22 iter_out=1 iter_in=36 dst_factor_in=1 src_factor_in=1 alu_op=add
ALU uop_end=1 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=max use_imm=1
ALU uop_end=1 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=min use_imm=1 imm=100 deps=push_next
STORE mem=out dram_base=576 y_size=1 x_size=36 x_stride=36 deps=pop_prev,push_prev
FINISH deps=pop_next
