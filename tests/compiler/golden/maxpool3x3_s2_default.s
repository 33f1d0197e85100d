# Pool2d(n=1, c=32, h=9, w=9, pool='max', kh=3, kw=3, stride=(2, 2), pad=(1, 1), name='pool2d')
# schedule AluSchedule(tile_c=2, tile_h=5, tile_w=0, virtual_threads=2)
# config default (fb4277e80c2d90a1)
# tensor x input mem=acc8 at=0 shape=(1, 2, 11, 11, 1, 16)
# tensor y output mem=out at=4096 shape=(1, 2, 5, 5, 1, 16)
# tensor uops const mem=uop at=5120 shape=(31,)
# kernel k0 at 0 n=1 (dst,src,wgt):
#   0,0,0
# kernel k1 at 1 n=30 (dst,src,wgt):
#   0,100,0 1,102,0 2,104,0 3,106,0 4,108,0 25,221,0 26,223,0 27,225,0 28,227,0 29,229,0 0,101,0 1,103,0
#   2,105,0 3,107,0 4,109,0 25,222,0 26,224,0 27,226,0 28,228,0 29,230,0 0,102,0 1,104,0 2,106,0 3,108,0
#   4,110,0 25,223,0 26,225,0 27,227,0 28,229,0 29,231,0
LOAD mem=uop dram_base=1280 y_size=1 x_size=31 x_stride=31
LOAD mem=acc8 sram_base=100 y_size=1 x_size=242 x_stride=242
ALU uop_end=1 iter_out=1 iter_in=50 dst_factor_in=1 alu_op=mov use_imm=1 imm=-128
ALU uop_bgn=1 uop_end=31 iter_out=3 iter_in=5 dst_factor_in=5 src_factor_out=11 src_factor_in=22 alu_op=max deps=push_next
STORE mem=out dram_base=256 y_size=1 x_size=50 x_stride=50 deps=pop_prev,push_prev
FINISH deps=pop_next
