# Conv2d(n=1, c=64, h=6, w=6, o=32, kh=3, kw=3, stride=(1, 1), pad=(1, 1), epilogue=Epilogue(bias=False, requant=Requant(multiplier=1, shift=8, pre_shift=0, per_channel=False), residual=False, relu=True, clip=None), pad_value=0, name='conv2d')
# schedule GemmSchedule(tile_co=1, tile_ci=4, tile_h=6, tile_w=6, tile_kh=0, virtual_threads=2, order='co_outer', loop_fold=None, hoist_weights=True, hoist_input=True, ramp=True)
# config default (650401a16e52ac92)
# tensor x input mem=inp at=0 shape=(1, 4, 8, 8, 1, 16)
# tensor w input mem=wgt at=4096 shape=(2, 4, 3, 3, 16, 16)
# tensor y output mem=out at=22528 shape=(1, 2, 6, 6, 1, 16)
# tensor uops const mem=uop at=23808 shape=(128,)
# kernel k0 at 0 n=18 (dst,src,wgt):
#   0,0,0 1,1,0 2,2,0 3,3,0 4,4,0 5,5,0 0,1,1 1,2,1 2,3,1 3,4,1 4,5,1 5,6,1
#   0,2,2 1,3,2 2,4,2 3,5,2 4,6,2 5,7,2
# kernel k1 at 18 n=18 (dst,src,wgt):
#   0,64,9 1,65,9 2,66,9 3,67,9 4,68,9 5,69,9 0,65,10 1,66,10 2,67,10 3,68,10 4,69,10 5,70,10
#   0,66,11 1,67,11 2,68,11 3,69,11 4,70,11 5,71,11
# kernel k2 at 36 n=18 (dst,src,wgt):
#   0,128,18 1,129,18 2,130,18 3,131,18 4,132,18 5,133,18 0,129,19 1,130,19 2,131,19 3,132,19 4,133,19 5,134,19
#   0,130,20 1,131,20 2,132,20 3,133,20 4,134,20 5,135,20
# kernel k3 at 54 n=18 (dst,src,wgt):
#   0,192,27 1,193,27 2,194,27 3,195,27 4,196,27 5,197,27 0,193,28 1,194,28 2,195,28 3,196,28 4,197,28 5,198,28
#   0,194,29 1,195,29 2,196,29 3,197,29 4,198,29 5,199,29
# kernel k4 at 72 n=54 (dst,src,wgt):
#   36,0,36 37,1,36 38,2,36 39,3,36 40,4,36 41,5,36 36,1,37 37,2,37 38,3,37 39,4,37 40,5,37 41,6,37
#   36,2,38 37,3,38 38,4,38 39,5,38 40,6,38 41,7,38 36,8,39 37,9,39 38,10,39 39,11,39 40,12,39 41,13,39
#   36,9,40 37,10,40 38,11,40 39,12,40 40,13,40 41,14,40 36,10,41 37,11,41 38,12,41 39,13,41 40,14,41 41,15,41
#   36,16,42 37,17,42 38,18,42 39,19,42 40,20,42 41,21,42 36,17,43 37,18,43 38,19,43 39,20,43 40,21,43 41,22,43
#   36,18,44 37,19,44 38,20,44 39,21,44 40,22,44 41,23,44
# kernel k5 at 126 n=1 (dst,src,wgt):
#   0,0,0
# kernel k6 at 127 n=1 (dst,src,wgt):
#   36,0,0
LOAD mem=uop dram_base=5952 y_size=1 x_size=128 x_stride=128
LOAD mem=inp y_size=1 x_size=64 x_stride=64
ALU reset=1 uop_bgn=126 uop_end=127 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=min
LOAD mem=wgt dram_base=16 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_end=18 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3 deps=pop_prev
LOAD mem=inp sram_base=64 dram_base=64 y_size=1 x_size=64 x_stride=64
LOAD mem=wgt sram_base=9 dram_base=25 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_bgn=18 uop_end=36 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3 deps=pop_prev
LOAD mem=inp sram_base=128 dram_base=128 y_size=1 x_size=64 x_stride=64
LOAD mem=wgt sram_base=18 dram_base=34 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_bgn=36 uop_end=54 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3 deps=pop_prev
LOAD mem=inp sram_base=192 dram_base=192 y_size=1 x_size=64 x_stride=64
LOAD mem=wgt sram_base=27 dram_base=43 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_bgn=54 uop_end=72 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3 deps=pop_prev
LOAD mem=wgt sram_base=36 dram_base=52 y_size=1 x_size=36 x_stride=36 deps=push_next
ALU uop_bgn=126 uop_end=127 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=rshr use_imm=1 imm=8
ALU uop_bgn=126 uop_end=127 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=max use_imm=1 deps=push_next
STORE mem=out dram_base=1408 y_size=1 x_size=36 x_stride=36 deps=pop_prev
ALU reset=1 uop_bgn=127 uop_end=128 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=min
GEMM uop_bgn=72 uop_end=126 iter_out=4 iter_in=6 dst_factor_in=6 src_factor_out=64 src_factor_in=8 wgt_factor_out=9 deps=pop_prev
ALU uop_bgn=127 uop_end=128 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=rshr use_imm=1 imm=8
ALU uop_bgn=127 uop_end=128 iter_out=1 iter_in=36 dst_factor_in=1 alu_op=max use_imm=1 deps=push_next
STORE mem=out sram_base=36 dram_base=1444 y_size=1 x_size=36 x_stride=36 deps=pop_prev,push_prev
FINISH deps=pop_next
