import XCTest
@testable import Rendering
