#include "endpoint_controller.h"

#include "controllers/model_controller.h"
#include "inference/remote_chat_engine.h"
#include "storage/storage_thread.h"

#include <QCoreApplication>
#include <QPointer>
#include <QThread>

#ifdef LATENT_HAVE_KEYCHAIN
#include <qt6keychain/keychain.h>
#endif

namespace {
const QString kKeychainService = QStringLiteral("Latent Chat endpoints");
}

EndpointController::EndpointController(ModelController* models, StorageThread* store, bool allowed, QString policySource, QObject* parent)
    : QObject(parent), modelController_(models), store_(store), allowed_(allowed), policySource_(std::move(policySource)) {}

QString EndpointController::policyNote() const {
    if (allowed_) return {};
    return tr("Remote endpoints are turned off on this computer by its administrator (%1).").arg(policySource_);
}

QString EndpointController::keyNote() const {
#ifdef LATENT_HAVE_KEYCHAIN
    return keySaved_ ? tr("The key is kept in the system keychain.") : tr("The key is saved in the system keychain when you connect.");
#else
    return tr("This build has no keychain support: the key is kept only until the app closes.");
#endif
}

void EndpointController::applyStored(const QVariantMap& stored) {
    url_ = stored.value(QStringLiteral("endpointUrl")).toString();
    model_ = stored.value(QStringLiteral("endpointModel")).toString();
    emit changed();
    readKey();
}

void EndpointController::setUrl(const QString& v) {
    const QString url = v.trimmed();
    if (url == url_) return;
    url_ = url;
    keySaved_ = false;
    if (store_) store_->write(StorageWrite::setSetting(QStringLiteral("endpointUrl"), url_));
    emit changed();
}

void EndpointController::setModel(const QString& v) {
    if (v == model_) return;
    model_ = v;
    if (store_) store_->write(StorageWrite::setSetting(QStringLiteral("endpointModel"), model_));
    emit changed();
}

void EndpointController::setApiKey(const QString& v) {
    if (v == apiKey_) return;
    apiKey_ = v;
    keySaved_ = false;
    emit changed();
}

void EndpointController::refreshModels() {
    if (!allowed_) {
        error_ = policyNote();
        emit modelsChanged();
        return;
    }
    if (!RemoteChatEngine::isEndpoint(url_)) {
        error_ = tr("The URL must start with http:// or https:// and end in /v1.");
        emit modelsChanged();
        return;
    }
    busy_ = true;
    error_.clear();
    emit modelsChanged();
    const quint64 fetch = ++fetches_;
    QPointer<EndpointController> self(this);
    QThread* thread = QThread::create([self, fetch, url = url_, key = apiKey_] {
        QStringList ids;
        QString failure;
        try {
            ids = RemoteChatEngine::listModels(url, key);
        } catch (const std::exception& e) {
            failure = QString::fromUtf8(e.what());
        }
        QMetaObject::invokeMethod(qApp, [self, fetch, ids, failure] {
            if (!self || fetch != self->fetches_) return;
            self->busy_ = false;
            self->models_ = ids;
            self->error_ = failure;
            if (failure.isEmpty() && !ids.isEmpty() && !ids.contains(self->model_)) self->setModel(ids.front());
            emit self->modelsChanged();
        }, Qt::QueuedConnection);
    });
    connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    thread->start();
}

void EndpointController::connectEndpoint() {
    if (!allowed_) {
        error_ = policyNote();
        emit modelsChanged();
        return;
    }
    storeKey();
    modelController_->connectEndpoint(url_, apiKey_, model_);
}

void EndpointController::readKey() {
#ifdef LATENT_HAVE_KEYCHAIN
    if (url_.isEmpty()) return;
    auto* job = new QKeychain::ReadPasswordJob(kKeychainService, this);
    job->setKey(RemoteChatEngine::displayUrl(url_));
    connect(job, &QKeychain::Job::finished, this, [this, job] {
        if (job->error() == QKeychain::NoError && apiKey_.isEmpty()) {
            apiKey_ = job->textData();
            keySaved_ = true;
            emit changed();
        }
    });
    job->start();
#endif
}

void EndpointController::storeKey() {
#ifdef LATENT_HAVE_KEYCHAIN
    if (url_.isEmpty() || keySaved_) return;
    auto* job = new QKeychain::WritePasswordJob(kKeychainService, this);
    job->setKey(RemoteChatEngine::displayUrl(url_));
    job->setTextData(apiKey_);
    connect(job, &QKeychain::Job::finished, this, [this, job] {
        keySaved_ = job->error() == QKeychain::NoError;
        emit changed();
    });
    job->start();
#endif
}
