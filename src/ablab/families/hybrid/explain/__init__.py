"""families/hybrid/explain"""
