# GlobalAvgPool(n=1, c=40, h=5, w=5, name='global_avg_pool')
# schedule AluSchedule(tile_c=3, tile_h=5, tile_w=0, virtual_threads=2)
# config default (fb4277e80c2d90a1)
# tensor x input mem=acc8 at=0 shape=(1, 3, 5, 5, 1, 16)
# tensor y output mem=out at=1280 shape=(1, 3, 1, 1, 1, 16)
# tensor uops const mem=uop at=1536 shape=(7,)
# kernel k0 at 0 n=1 (dst,src,wgt):
#   0,0,0
# kernel k1 at 1 n=3 (dst,src,wgt):
#   0,24,0 1,49,0 2,74,0
# kernel k2 at 4 n=1 (dst,src,wgt):
#   0,48,0
# kernel k3 at 5 n=1 (dst,src,wgt):
#   0,6,0
# kernel k4 at 6 n=1 (dst,src,wgt):
#   0,3,0
LOAD mem=uop dram_base=384 y_size=1 x_size=7 x_stride=7
ALU reset=1 uop_end=1 iter_out=1 iter_in=12 dst_factor_in=1 alu_op=min
LOAD mem=acc8 sram_base=24 y_size=1 x_size=75 x_stride=75
ALU uop_bgn=1 uop_end=4 iter_out=6 iter_in=4 dst_factor_in=3 src_factor_out=4 src_factor_in=1 alu_op=add
ALU uop_bgn=4 uop_end=5 iter_out=1 iter_in=3 dst_factor_in=1 src_factor_in=25 alu_op=add
ALU uop_bgn=5 uop_end=6 iter_out=2 iter_in=3 dst_factor_out=3 dst_factor_in=1 src_factor_out=3 src_factor_in=1 alu_op=add
ALU uop_bgn=6 uop_end=7 iter_out=1 iter_in=3 dst_factor_in=1 src_factor_in=1 alu_op=add
ALU uop_end=1 iter_out=1 iter_in=3 dst_factor_in=1 alu_op=mul use_imm=1 imm=10486
ALU uop_end=1 iter_out=1 iter_in=3 dst_factor_in=1 alu_op=rshr use_imm=1 imm=18 deps=push_next
STORE mem=out dram_base=80 y_size=1 x_size=3 x_stride=3 deps=pop_prev,push_prev
FINISH deps=pop_next
