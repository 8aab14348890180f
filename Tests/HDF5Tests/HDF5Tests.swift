import XCTest
@testable import HDF5
