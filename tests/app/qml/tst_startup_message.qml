// StartupMessage: the window a second start shows when the running instance does not answer.
import QtQuick
import QtTest
import LatentChat

Item {
    id: host

    Component {
        id: messageComponent
        StartupMessage {
            heading: "Latent Chat does not answer"
            message: "Latent Chat is already running with the data directory /d, but it does not answer."
        }
    }

    TestCase {
        name: "StartupMessage"
        when: windowShown

        function test_showsItsTextAndCloses() {
            const window = createTemporaryObject(messageComponent, host)
            verify(window !== null, "window created")
            tryCompare(window, "visible", true)
            compare(findChild(window.contentItem, "startupHeading").text, "Latent Chat does not answer")
            verify(findChild(window.contentItem, "startupMessage").text.indexOf("does not answer") > 0)
            verify(window.height >= 180)
            window.close()
            tryCompare(window, "visible", false)
        }
    }
}
