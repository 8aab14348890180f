print("headlab")
