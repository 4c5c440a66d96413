"""The trust chain (issue 13 item 5): from a reported figure down to what it rests on — monthly values, the
data-quality control plan's row, the instrument and its calibration certificate, the lab report, the signed
batch and any nonconformity raised on that data — one step at a time, every step checked by hash."""
