"""The open FPGA flow: HwConfig -> SoC -> Yosys -> nextpnr-ecp5 -> ecppack, with reports.

* ``boards`` -- supported boards (ULX3S-85F ...) and their amaranth-boards platforms;
* ``resources`` -- device capacities and the resource estimate (no tools involved):
  ``estimate_resources(cfg, device)``, exact block RAM and DSPs;
* ``resource_model`` -- its LUT4/FF model, fitted to ``resource_calibration.json``
  (``calibrate_resources`` regenerates that table with Yosys);
* ``synth_cache`` -- Yosys reports cached by config, Yosys version and sources;
* ``build_cache`` -- full builds (bitstream, reports, logs) cached by the synthesis key,
  the place-and-route tools and options;
* ``flow`` -- runs the PyPI ``yowasp-*`` tools stage by stage with progress, logs, timeouts;
* ``report`` -- parses the tools' output into ``report.json``;
* ``cli`` -- helpers of ``vta hw bitstream``, ``synth`` and ``estimate``.

See ``docs/fpga.md``.
"""
