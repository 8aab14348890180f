import XCTest
@testable import Pickle
