"""families/hybrid"""
