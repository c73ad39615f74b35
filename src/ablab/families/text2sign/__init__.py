"""families/text2sign"""
