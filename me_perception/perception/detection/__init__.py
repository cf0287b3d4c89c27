"""Face detection: the detector interface, the shipped Haar + O-Net detector, scheduling."""
