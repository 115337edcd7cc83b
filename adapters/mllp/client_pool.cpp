#include "adapters/mllp/client_pool.h"

#include <algorithm>
#include <utility>

namespace tb::mllp {
namespace {

using Clock = std::chrono::steady_clock;

// How often the reaper looks for expired idle connections: a quarter of the idle time, so none
// stays open much past it, but not so often that an idle broker spins.
std::chrono::milliseconds ReapPeriod(std::chrono::milliseconds idle_timeout) {
  return std::max(idle_timeout / 4, std::chrono::milliseconds(10));
}

void CloseAll(std::vector<std::unique_ptr<MllpClient>>& clients) {
  for (auto& client : clients) {
    client->Close();
  }
  clients.clear();
}

}  // namespace

MllpClientPool::MllpClientPool(std::shared_ptr<boost::asio::ssl::context> tls,
                               MllpClientPoolSettings settings)
    : tls_(std::move(tls)), settings_(settings) {
  if (settings_.idle_timeout > std::chrono::milliseconds::zero()) {
    reaper_ = std::thread([this] { ReapLoop(); });
  }
}

MllpClientPool::~MllpClientPool() {
  std::vector<std::unique_ptr<MllpClient>> closing;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [key, list] : idle_) {
      for (Idle& idle : list) {
        closing.push_back(std::move(idle.client));
      }
    }
    idle_.clear();
  }
  wake_.notify_all();
  if (reaper_.joinable()) {
    reaper_.join();
  }
  CloseAll(closing);
}

MllpClientPool::Key MllpClientPool::KeyOf(const MllpClientSettings& settings) {
  return Key(settings.host, settings.port, settings.server_name);
}

core::Result<PooledMllpClient> MllpClientPool::Connect(const MllpClientSettings& destination) {
  auto client = std::make_unique<MllpClient>(tls_, destination);
  BROKER_RETURN_IF_ERROR(client->Connect());
  std::lock_guard lock(mutex_);
  ++stats_.connects;
  return PooledMllpClient(std::move(client), destination, false);
}

core::Result<PooledMllpClient> MllpClientPool::Acquire(const MllpClientSettings& destination) {
  for (;;) {
    std::vector<std::unique_ptr<MllpClient>> expired;
    std::unique_ptr<MllpClient> reused;
    {
      std::lock_guard lock(mutex_);
      // The reaper may lag behind: never hand out a connection the peer may already have dropped.
      TakeExpiredLocked(Clock::now(), expired);
      if (auto found = idle_.find(KeyOf(destination)); found != idle_.end()) {
        // Most recently used first: the others stay idle and expire if traffic drops.
        reused = std::move(found->second.back().client);
        found->second.pop_back();
        if (found->second.empty()) {
          idle_.erase(found);
        }
      }
    }
    CloseAll(expired);
    if (!reused) {
      return Connect(destination);
    }
    // Bytes that arrived while the connection was idle answer no message we are about to send
    // (a late second acknowledgement, a close_notify): the next Send would take them as its
    // reply. Such a connection is closed, never reused.
    const bool unread = reused->HasUnreadInput();
    {
      std::lock_guard lock(mutex_);
      ++(unread ? stats_.unread_input : stats_.reuses);
    }
    if (!unread) {
      return PooledMllpClient(std::move(reused), destination, true);
    }
    reused->Close();
  }
}

core::Result<std::string> MllpClientPool::Send(PooledMllpClient& pooled, std::string_view payload) {
  auto reply = pooled.client().Send(payload);
  if (reply || !pooled.reused() || reply.error().code != core::ErrorCode::kUpstreamUnavailable) {
    return reply;
  }
  // The reused connection was closed or reset before an answer came: most likely the peer (or a
  // firewall) dropped it while it was idle here. Once, on a fresh connection; a second failure is
  // the caller's to retry. Same payload, so the same control id if the peer did read the first.
  auto fresh = Connect(pooled.settings_);
  if (!fresh) {
    return std::move(fresh).error();
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.stale_retries;
  }
  pooled = std::move(*fresh);
  return pooled.client().Send(payload);
}

void MllpClientPool::Release(PooledMllpClient pooled) {
  if (!pooled.client_) {
    return;  // moved from
  }
  std::unique_ptr<MllpClient> closing;
  // Checked outside the lock (it asks the socket); see Acquire for why it matters.
  const bool unread = pooled.client_->IsConnected() && pooled.client_->HasUnreadInput();
  {
    std::lock_guard lock(mutex_);
    std::vector<Idle>& list = idle_[KeyOf(pooled.settings_)];
    if (unread) {
      ++stats_.unread_input;
    }
    if (stopping_ || unread || !pooled.client_->IsConnected() ||
        settings_.idle_timeout <= std::chrono::milliseconds::zero() ||
        list.size() >= settings_.max_idle_per_destination) {
      ++stats_.discarded;
      closing = std::move(pooled.client_);
      if (list.empty()) {
        idle_.erase(KeyOf(pooled.settings_));
      }
    } else {
      list.push_back(Idle{std::move(pooled.client_), Clock::now()});
    }
  }
  if (closing) {
    closing->Close();
  }
}

void MllpClientPool::TakeExpiredLocked(Clock::time_point now,
                                       std::vector<std::unique_ptr<MllpClient>>& out) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::vector<Idle>& list = it->second;
    // Oldest first: the expired ones are a prefix.
    auto keep = std::find_if(list.begin(), list.end(), [&](const Idle& idle) {
      return now - idle.since < settings_.idle_timeout;
    });
    for (auto expired = list.begin(); expired != keep; ++expired) {
      out.push_back(std::move(expired->client));
      ++stats_.expired;
    }
    list.erase(list.begin(), keep);
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
}

void MllpClientPool::ReapLoop() {
  const auto period = ReapPeriod(settings_.idle_timeout);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, period, [this] { return stopping_; });
    if (stopping_) {
      break;
    }
    std::vector<std::unique_ptr<MllpClient>> expired;
    TakeExpiredLocked(Clock::now(), expired);
    if (!expired.empty()) {
      lock.unlock();  // a TLS shutdown waits for the peer: never under the lock
      CloseAll(expired);
      lock.lock();
    }
  }
}

std::size_t MllpClientPool::IdleCount() const {
  std::lock_guard lock(mutex_);
  std::size_t count = 0;
  for (const auto& [key, list] : idle_) {
    count += list.size();
  }
  return count;
}

MllpClientPoolStats MllpClientPool::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace tb::mllp
