# Conv2d(n=1, c=32, h=8, w=8, o=32, kh=3, kw=3, stride=(1, 1), pad=(1, 1), epilogue=Epilogue(bias=True, requant=Requant(multiplier=3, shift=9, pre_shift=2, per_channel=False), residual=False, relu=True, clip=None, offset=0), pad_value=0, name='conv2d')
# schedule GemmSchedule(tile_co=1, tile_ci=1, tile_h=8, tile_w=8, tile_kh=0, virtual_threads=2, order='co_outer', loop_fold=None, hoist_weights=True, hoist_input=True, ramp=False)
# config default (fb4277e80c2d90a1)
# tensor x input mem=inp at=0 shape=(1, 2, 10, 10, 1, 16)
# tensor w input mem=wgt at=3328 shape=(2, 2, 3, 3, 16, 16)
# tensor consts input mem=acc at=12544 shape=(2, 1, 16)
# tensor y output mem=out at=12800 shape=(1, 2, 8, 8, 1, 16)
# tensor uops const mem=uop at=14848 shape=(100,)
# kernel k0 at 0 n=24 (dst,src,wgt):
#   0,0,0 1,1,0 2,2,0 3,3,0 4,4,0 5,5,0 6,6,0 7,7,0 0,1,1 1,2,1 2,3,1 3,4,1
#   4,5,1 5,6,1 6,7,1 7,8,1 0,2,2 1,3,2 2,4,2 3,5,2 4,6,2 5,7,2 6,8,2 7,9,2
# kernel k1 at 24 n=24 (dst,src,wgt):
#   0,100,9 1,101,9 2,102,9 3,103,9 4,104,9 5,105,9 6,106,9 7,107,9 0,101,10 1,102,10 2,103,10 3,104,10
#   4,105,10 5,106,10 6,107,10 7,108,10 0,102,11 1,103,11 2,104,11 3,105,11 4,106,11 5,107,11 6,108,11 7,109,11
# kernel k2 at 48 n=24 (dst,src,wgt):
#   64,0,0 65,1,0 66,2,0 67,3,0 68,4,0 69,5,0 70,6,0 71,7,0 64,1,1 65,2,1 66,3,1 67,4,1
#   68,5,1 69,6,1 70,7,1 71,8,1 64,2,2 65,3,2 66,4,2 67,5,2 68,6,2 69,7,2 70,8,2 71,9,2
# kernel k3 at 72 n=24 (dst,src,wgt):
#   64,100,9 65,101,9 66,102,9 67,103,9 68,104,9 69,105,9 70,106,9 71,107,9 64,101,10 65,102,10 66,103,10 67,104,10
#   68,105,10 69,106,10 70,107,10 71,108,10 64,102,11 65,103,11 66,104,11 67,105,11 68,106,11 69,107,11 70,108,11 71,109,11
# kernel k4 at 96 n=1 (dst,src,wgt):
#   0,128,0
# kernel k5 at 97 n=1 (dst,src,wgt):
#   0,0,0
# kernel k6 at 98 n=1 (dst,src,wgt):
#   64,129,0
# kernel k7 at 99 n=1 (dst,src,wgt):
#   64,0,0
LOAD mem=uop dram_base=3712 y_size=1 x_size=100 x_stride=100
LOAD mem=inp y_size=1 x_size=100 x_stride=100
LOAD mem=acc sram_base=128 dram_base=196 y_size=1 x_size=2 x_stride=2
ALU uop_bgn=96 uop_end=97 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=mov
LOAD mem=wgt dram_base=13 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_end=24 iter_out=3 iter_in=8 dst_factor_in=8 src_factor_out=10 src_factor_in=10 wgt_factor_out=3 deps=pop_prev,push_prev
LOAD mem=inp sram_base=100 dram_base=100 y_size=1 x_size=100 x_stride=100
LOAD mem=wgt sram_base=9 dram_base=22 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_bgn=24 uop_end=48 iter_out=3 iter_in=8 dst_factor_in=8 src_factor_out=10 src_factor_in=10 wgt_factor_out=3 deps=pop_prev,push_prev
LOAD mem=wgt dram_base=31 y_size=1 x_size=9 x_stride=9 deps=pop_next,push_next
ALU uop_bgn=97 uop_end=98 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=rshr use_imm=1 imm=2
LOAD mem=wgt sram_base=9 dram_base=40 y_size=1 x_size=9 x_stride=9 deps=pop_next,push_next
ALU uop_bgn=97 uop_end=98 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=mul use_imm=1 imm=3
ALU uop_bgn=97 uop_end=98 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=rshr use_imm=1 imm=9
ALU uop_bgn=97 uop_end=98 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=max use_imm=1 deps=push_next
STORE mem=out dram_base=800 y_size=1 x_size=64 x_stride=64 deps=pop_prev
ALU uop_bgn=98 uop_end=99 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=mov
GEMM uop_bgn=48 uop_end=72 iter_out=3 iter_in=8 dst_factor_in=8 src_factor_out=10 src_factor_in=10 wgt_factor_out=3 deps=pop_prev
GEMM uop_bgn=72 uop_end=96 iter_out=3 iter_in=8 dst_factor_in=8 src_factor_out=10 src_factor_in=10 wgt_factor_out=3 deps=pop_prev
ALU uop_bgn=99 uop_end=100 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=rshr use_imm=1 imm=2
ALU uop_bgn=99 uop_end=100 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=mul use_imm=1 imm=3
ALU uop_bgn=99 uop_end=100 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=rshr use_imm=1 imm=9
ALU uop_bgn=99 uop_end=100 iter_out=1 iter_in=64 dst_factor_in=1 alu_op=max use_imm=1 deps=push_next
STORE mem=out sram_base=64 dram_base=864 y_size=1 x_size=64 x_stride=64 deps=pop_prev,push_prev
FINISH deps=pop_next
