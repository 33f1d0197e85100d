# Dense(n=1, i=37, o=3, epilogue=Epilogue(bias=True, requant=Requant(multiplier=1, shift=5, pre_shift=0, per_channel=False), residual=False, relu=False, clip=None, offset=0), name='dense')
# schedule GemmSchedule(tile_co=1, tile_ci=4, tile_h=1, tile_w=1, tile_kh=0, virtual_threads=2, order='co_outer', loop_fold=None, hoist_weights=True, hoist_input=True, ramp=False)
# config tiny (96ee38b3e78efcce)
# tensor x input mem=inp at=0 shape=(1, 10, 1, 1, 1, 4)
# tensor w input mem=wgt at=256 shape=(1, 10, 1, 1, 4, 4)
# tensor consts input mem=acc at=512 shape=(1, 1, 4)
# tensor y output mem=out at=768 shape=(1, 1, 1, 1, 1, 4)
# tensor uops const mem=uop at=1024 shape=(9,)
# kernel k0 at 0 n=1 (dst,src,wgt):
#   0,0,0
# kernel k1 at 1 n=1 (dst,src,wgt):
#   0,1,1
# kernel k2 at 2 n=1 (dst,src,wgt):
#   0,2,2
# kernel k3 at 3 n=1 (dst,src,wgt):
#   0,3,3
# kernel k4 at 4 n=1 (dst,src,wgt):
#   0,4,4
# kernel k5 at 5 n=1 (dst,src,wgt):
#   0,5,5
# kernel k6 at 6 n=1 (dst,src,wgt):
#   0,6,6
# kernel k7 at 7 n=1 (dst,src,wgt):
#   0,7,7
# kernel k8 at 8 n=1 (dst,src,wgt):
#   0,2,0
LOAD mem=uop dram_base=256 y_size=1 x_size=9 x_stride=9
LOAD mem=inp y_size=1 x_size=4 x_stride=4
LOAD mem=wgt dram_base=16 y_size=1 x_size=4 x_stride=4 deps=push_next
ALU alu_op=outmode use_imm=1 imm=5
LOAD mem=acc sram_base=2 dram_base=32 y_size=1 x_size=1 x_stride=1
ALU uop_bgn=8 uop_end=9 iter_out=1 iter_in=1 alu_op=mov
LOAD mem=inp sram_base=4 dram_base=4 y_size=1 x_size=4 x_stride=4
GEMM uop_end=1 iter_out=1 iter_in=1 deps=pop_prev
LOAD mem=wgt sram_base=4 dram_base=20 y_size=1 x_size=4 x_stride=4 deps=push_next
GEMM uop_bgn=1 uop_end=2 iter_out=1 iter_in=1
GEMM uop_bgn=2 uop_end=3 iter_out=1 iter_in=1
GEMM uop_bgn=3 uop_end=4 iter_out=1 iter_in=1 deps=push_prev
GEMM uop_bgn=4 uop_end=5 iter_out=1 iter_in=1 deps=pop_prev
LOAD mem=inp dram_base=8 y_size=1 x_size=2 x_stride=2 deps=pop_next
GEMM uop_bgn=5 uop_end=6 iter_out=1 iter_in=1
LOAD mem=wgt dram_base=24 y_size=1 x_size=2 x_stride=2 deps=push_next
GEMM uop_bgn=6 uop_end=7 iter_out=1 iter_in=1
GEMM uop_bgn=7 uop_end=8 iter_out=1 iter_in=1
GEMM uop_end=1 iter_out=1 iter_in=1 deps=pop_prev
GEMM uop_bgn=1 uop_end=2 iter_out=1 iter_in=1 deps=push_next
STORE mem=out dram_base=192 y_size=1 x_size=1 x_stride=1 deps=pop_prev,push_prev
ALU alu_op=outmode use_imm=1
FINISH deps=pop_next
