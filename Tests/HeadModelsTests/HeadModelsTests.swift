import XCTest
@testable import HeadModels
