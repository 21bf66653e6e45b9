// NoticeBanner: hidden without text; a one-time notice is dismissed; a lasting one (the unsaved
// messages) has its action and no Dismiss.
import QtQuick
import QtTest
import LatentChat

Item {
    id: host
    width: 800
    height: 200

    Component {
        id: bannerComponent
        NoticeBanner { width: 800 }
    }

    SignalSpy { id: dismissSpy; signalName: "dismissed" }
    SignalSpy { id: actionSpy; signalName: "actionTriggered" }

    TestCase {
        name: "NoticeBanner"
        when: windowShown

        function make(properties) {
            const item = createTemporaryObject(bannerComponent, host, properties)
            verify(item !== null, "banner created")
            dismissSpy.clear()
            actionSpy.clear()
            dismissSpy.target = item
            actionSpy.target = item
            return item
        }

        function test_hiddenWithoutText() {
            const item = make({})
            compare(item.visible, false)
            compare(item.implicitHeight, 0)
        }

        function test_oneTimeNoticeIsDismissed() {
            const item = make({ text: "moved aside" })
            verify(item.visible)
            compare(findChild(item, "noticeActionButton").visible, false)
            mouseClick(findChild(item, "dismissNoticeButton"))
            compare(dismissSpy.count, 1)
        }

        function test_lastingNoticeHasItsAction() {
            const item = make({ text: "2 messages are not saved yet: the disk is full.", actionText: "Retry now",
                                dismissible: false })
            const action = findChild(item, "noticeActionButton")
            verify(action.visible)
            compare(action.text, "Retry now")
            compare(findChild(item, "dismissNoticeButton").visible, false)
            mouseClick(action)
            compare(actionSpy.count, 1)
            compare(dismissSpy.count, 0)
            compare(findChild(item, "noticeText").text, "2 messages are not saved yet: the disk is full.")
        }
    }
}
