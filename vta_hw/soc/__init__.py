"""The FPGA SoC around the accelerator core: DRAM, UART host link, clocking.

* ``protocol`` -- the host-link frame format, commands and CRC (standard library only; the
  runtime's FPGA device imports it without Amaranth);
* ``memory`` -- block-RAM DRAM serving the core's four ports with the exact timing contract;
* ``uart``, ``bridge`` -- the 8N1 UART and the framed protocol engine;
* ``clocking`` -- the ECP5 PLL; ``soc`` -- ``SocCore`` (simulatable) and ``BoardTop``;
* ``sim`` -- Verilator build of the whole SoC, driven byte by byte over pipes.

``docs/fpga.md`` describes the design; importing this package itself needs nothing heavy.
"""
