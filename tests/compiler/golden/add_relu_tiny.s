# Elementwise(shape=(1, 6, 5, 5), steps=(AluStep(op='add', operand=None), AluStep(op='max', operand=0)), name='elementwise')
# schedule AluSchedule(tile_c=2, tile_h=5, tile_w=0, virtual_threads=2)
# config tiny (96ee38b3e78efcce)
# tensor a input mem=acc8 at=0 shape=(1, 2, 5, 5, 1, 4)
# tensor b input mem=acc8 at=256 shape=(1, 2, 5, 5, 1, 4)
# tensor y output mem=out at=512 shape=(1, 2, 5, 5, 1, 4)
# tensor uops const mem=uop at=768 shape=(2,)
# kernel k0 at 0 n=1 (dst,src,wgt):
#   0,100,0
# kernel k1 at 1 n=1 (dst,src,wgt):
#   0,0,0
LOAD mem=uop dram_base=192 y_size=1 x_size=2 x_stride=2
LOAD mem=acc8 y_size=1 x_size=50 x_stride=50
LOAD mem=acc8 sram_base=100 dram_base=64 y_size=1 x_size=50 x_stride=50
ALU uop_end=1 iter_out=1 iter_in=50 dst_factor_in=1 src_factor_in=1 alu_op=add
ALU uop_bgn=1 uop_end=2 iter_out=1 iter_in=50 dst_factor_in=1 alu_op=max use_imm=1 deps=push_next
STORE mem=out dram_base=128 y_size=1 x_size=50 x_stride=50 deps=pop_prev,push_prev
FINISH deps=pop_next
