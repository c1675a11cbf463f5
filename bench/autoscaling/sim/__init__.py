"""A discrete-event simulator of LLM serving on replica groups, calibrated on step times measured on an H100."""
