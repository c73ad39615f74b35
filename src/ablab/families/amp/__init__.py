"""families/amp"""
