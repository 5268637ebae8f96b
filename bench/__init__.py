"""flowvault benchmarks (issue 6): `make bench` or `python -m bench.run --quick`. Loopback only, bounded load."""
