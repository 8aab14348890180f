import XCTest
@testable import Geometry
