"""families/amp/encoders"""
