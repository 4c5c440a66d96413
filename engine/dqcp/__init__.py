"""The data-quality control plan (数据质量控制计划, DQCP) and the monthly evidence filing it drives."""
