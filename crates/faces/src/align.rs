//! Face alignment: dlib's `get_face_chip_details` and `extract_image_chip`.
