"""Reading datasets in and writing labels out."""
