"""Reading what departments drop into the landing zone: find files, recognise
their format and encoding, find the header, and turn a file into rows of text
with the row numbers a person opening the file would see."""
