print("spillway")
