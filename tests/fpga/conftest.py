"""Markers of the FPGA tests (registered here so the tier is self-contained)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "board: needs a real FPGA board on a serial port (set VTA_BOARD); skipped "
                   "with a reason otherwise")
