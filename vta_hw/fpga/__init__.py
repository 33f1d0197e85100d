"""The open FPGA flow: HwConfig -> SoC -> Yosys -> nextpnr-ecp5 -> ecppack, with reports.

* ``boards`` -- supported boards (ULX3S-85F ...) and their amaranth-boards platforms;
* ``resources`` -- device capacities and the early fit estimate (no tools involved);
* ``flow`` -- runs the PyPI ``yowasp-*`` tools stage by stage with progress, logs, timeouts;
* ``report`` -- parses the tools' output into ``report.json``;
* ``cli`` -- ``vta hw bitstream`` and ``vta hw synth``.

See ``docs/fpga.md``.
"""
