# Conv2d(n=1, c=64, h=6, w=6, o=32, kh=3, kw=3, stride=(1, 1), pad=(1, 1), epilogue=Epilogue(bias=False, requant=Requant(multiplier=1, shift=8, pre_shift=0, per_channel=False), residual=False, relu=True, clip=None, offset=0), pad_value=0, name='conv2d')
# schedule GemmSchedule(tile_co=1, tile_ci=4, tile_h=6, tile_w=6, tile_kh=0, virtual_threads=2, order='co_outer', loop_fold=None, hoist_weights=True, hoist_input=True, ramp=True)
# config default (fb4277e80c2d90a1)
# tensor x input mem=inp at=0 shape=(1, 4, 8, 8, 1, 16)
# tensor w input mem=wgt at=4096 shape=(2, 4, 3, 3, 16, 16)
# tensor y output mem=out at=22528 shape=(1, 2, 6, 6, 1, 16)
# tensor uops const mem=uop at=23808 shape=(146,)
# kernel k0 at 0 n=1 (dst,src,wgt):
#   0,0,0
# kernel k1 at 1 n=12 (dst,src,wgt):
#   0,8,3 1,9,3 2,10,3 3,11,3 4,12,3 5,13,3 0,16,6 1,17,6 2,18,6 3,19,6 4,20,6 5,21,6
# kernel k2 at 13 n=6 (dst,src,wgt):
#   0,1,1 1,2,1 2,3,1 3,4,1 4,5,1 5,6,1
# kernel k3 at 19 n=18 (dst,src,wgt):
#   0,64,9 1,65,9 2,66,9 3,67,9 4,68,9 5,69,9 0,65,10 1,66,10 2,67,10 3,68,10 4,69,10 5,70,10
#   0,66,11 1,67,11 2,68,11 3,69,11 4,70,11 5,71,11
# kernel k4 at 37 n=18 (dst,src,wgt):
#   0,128,18 1,129,18 2,130,18 3,131,18 4,132,18 5,133,18 0,129,19 1,130,19 2,131,19 3,132,19 4,133,19 5,134,19
#   0,130,20 1,131,20 2,132,20 3,133,20 4,134,20 5,135,20
# kernel k5 at 55 n=18 (dst,src,wgt):
#   0,192,27 1,193,27 2,194,27 3,195,27 4,196,27 5,197,27 0,193,28 1,194,28 2,195,28 3,196,28 4,197,28 5,198,28
#   0,194,29 1,195,29 2,196,29 3,197,29 4,198,29 5,199,29
# kernel k6 at 73 n=1 (dst,src,wgt):
#   36,0,36
# kernel k7 at 74 n=54 (dst,src,wgt):
#   36,64,45 37,65,45 38,66,45 39,67,45 40,68,45 41,69,45 36,65,46 37,66,46 38,67,46 39,68,46 40,69,46 41,70,46
#   36,66,47 37,67,47 38,68,47 39,69,47 40,70,47 41,71,47 36,72,48 37,73,48 38,74,48 39,75,48 40,76,48 41,77,48
#   36,73,49 37,74,49 38,75,49 39,76,49 40,77,49 41,78,49 36,74,50 37,75,50 38,76,50 39,77,50 40,78,50 41,79,50
#   36,80,51 37,81,51 38,82,51 39,83,51 40,84,51 41,85,51 36,81,52 37,82,52 38,83,52 39,84,52 40,85,52 41,86,52
#   36,82,53 37,83,53 38,84,53 39,85,53 40,86,53 41,87,53
# kernel k8 at 128 n=12 (dst,src,wgt):
#   36,8,39 37,9,39 38,10,39 39,11,39 40,12,39 41,13,39 36,16,42 37,17,42 38,18,42 39,19,42 40,20,42 41,21,42
# kernel k9 at 140 n=6 (dst,src,wgt):
#   36,1,37 37,2,37 38,3,37 39,4,37 40,5,37 41,6,37
LOAD mem=uop dram_base=5952 y_size=1 x_size=146 x_stride=146
LOAD mem=inp y_size=1 x_size=64 x_stride=64
LOAD mem=wgt dram_base=16 y_size=1 x_size=9 x_stride=9 deps=push_next
ALU alu_op=outmode use_imm=1 imm=40
GEMM uop_end=1 iter_out=6 iter_in=6 dst_factor_out=6 dst_factor_in=1 src_factor_out=8 src_factor_in=1 overwrite=1 deps=pop_prev
LOAD mem=inp sram_base=64 dram_base=64 y_size=1 x_size=64 x_stride=64
GEMM uop_bgn=1 uop_end=13 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1
LOAD mem=wgt sram_base=9 dram_base=25 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_bgn=13 uop_end=19 iter_out=2 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1
GEMM uop_bgn=19 uop_end=37 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3 deps=pop_prev
LOAD mem=inp sram_base=128 dram_base=128 y_size=1 x_size=64 x_stride=64
LOAD mem=wgt sram_base=18 dram_base=34 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_bgn=37 uop_end=55 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3 deps=pop_prev
LOAD mem=inp sram_base=192 dram_base=192 y_size=1 x_size=64 x_stride=64
LOAD mem=wgt sram_base=27 dram_base=43 y_size=1 x_size=9 x_stride=9 deps=push_next
GEMM uop_bgn=55 uop_end=73 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=8 src_factor_in=8 wgt_factor_out=3 deps=pop_prev,push_next
LOAD mem=wgt sram_base=36 dram_base=52 y_size=1 x_size=36 x_stride=36 deps=push_next
STORE mem=out dram_base=1408 y_size=1 x_size=36 x_stride=36 deps=pop_prev
GEMM uop_bgn=73 uop_end=74 iter_out=6 iter_in=6 dst_factor_out=6 dst_factor_in=1 src_factor_out=8 src_factor_in=1 overwrite=1 deps=pop_prev
GEMM uop_bgn=74 uop_end=128 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=64 src_factor_in=8 wgt_factor_out=9
GEMM uop_bgn=128 uop_end=140 iter_out=3 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1
GEMM uop_bgn=140 uop_end=146 iter_out=2 iter_in=6 dst_factor_in=6 src_factor_out=1 src_factor_in=8 wgt_factor_out=1 deps=push_next
STORE mem=out sram_base=36 dram_base=1444 y_size=1 x_size=36 x_stride=36 deps=pop_prev,push_prev
ALU alu_op=outmode use_imm=1
FINISH deps=pop_next
